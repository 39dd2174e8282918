package openid

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// boolish reads email_verified as a JSON boolean or, as some providers
// send it, the string "true" or "false".
type boolish bool

func (b *boolish) UnmarshalJSON(p []byte) error {
	var v bool
	if err := json.Unmarshal(p, &v); err == nil {
		*b = boolish(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		return err
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b = boolish(v)
	return nil
}

// unixTime reads a NumericDate (seconds since the epoch, perhaps with a
// fraction).
type unixTime time.Time

func (t *unixTime) UnmarshalJSON(p []byte) error {
	var n json.Number
	if err := json.Unmarshal(p, &n); err != nil {
		return err
	}
	f, err := n.Float64()
	if err != nil {
		return err
	}
	*t = unixTime(time.Unix(int64(f), 0).UTC())
	return nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
