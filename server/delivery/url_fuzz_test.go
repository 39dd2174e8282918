package delivery

import (
	"net/url"
	"strings"
	"testing"

	"github.com/attest-dev/attest/internal/inert"
)

// checkURLError fails t if err, from reading the delivery URL raw, could
// put anything but plain text on the operator's terminal or into a log,
// or repeats the URL's password (it is logged at start-up).
func checkURLError(t *testing.T, raw string, err error) {
	t.Helper()
	msg := err.Error()
	if inert.String(msg) != msg {
		t.Fatalf("error %q for %q is not plain text", msg, raw)
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.User == nil {
		return
	}
	// A password that also spells another part of the URL may be quoted
	// as that part; one that does not must never be quoted.
	if pw, ok := u.User.Password(); ok && len(pw) >= 6 && strings.Count(raw, pw) == 1 && strings.Contains(msg, pw) {
		t.Fatalf("error %q repeats the password of %q", msg, raw)
	}
}

func FuzzSMTPURL(f *testing.F) {
	for _, s := range []string{
		"smtp://user:secret123@mail.example.com:587",
		"smtps://user:secret123@mail.example.com",
		"smtp://user:secret123@mail.example.com:5x7",
		"smtp://user:secret123@mail example.com:587",
		"smtp://user@mail.example.com",
		"smtp://:secret123@host",
		"smtp://user:secret123@host/path?x=1#f",
		"smtp://host?unknown=1",
		"http://user:secret123@host",
		"smtp://user:secret%ZZ@host",
		"smtp://user:sec\x1bret123@host",
		"mail.example.com:587",
		"",
	} {
		f.Add(s, "attest@example.com")
	}
	f.Add("smtp://host:25", "Attest <attest@example.com>")
	f.Add("smtp://host:25", "\x1b[2J@x")
	f.Fuzz(func(t *testing.T, raw, from string) {
		// ca_file names a file to read; the fuzzer must not read the
		// machine's files.
		if strings.Contains(strings.ToLower(raw), "ca") && strings.Contains(raw, "?") {
			return
		}
		s, err := NewSMTP(raw, from)
		if err != nil {
			checkURLError(t, raw, err)
			return
		}
		if s.host == "" || s.from.Address == "" {
			t.Fatalf("NewSMTP(%q, %q) = %+v", raw, from, s)
		}
	})
}

func FuzzSMSURL(f *testing.F) {
	for _, s := range []string{
		"https://AC123:token123456@api.twilio.com?from=%2B15005550006",
		"https://AC123:token123456@api.twilio.com?messaging_service_sid=MG1",
		"http://AC123:token123456@127.0.0.1:8080?from=%2B15005550006",
		"http://AC123:token123456@example.com?from=%2B15005550006",
		"https://AC123:token123456@api.twilio.com",
		"https://api.twilio.com?from=%2B15005550006",
		"https://AC123:token123456@api.twilio.com?from=15005550006",
		"https://AC123:token123456@api.twilio.com?from=%2B1&x=1",
		"https://AC123:token123456@api twilio.com?from=%2B1",
		"https://AC123:token123456@[::1]:99999?from=%2B1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ParseSMSURL(raw)
		if err != nil {
			checkURLError(t, raw, err)
			return
		}
		if _, err := NewSMS(cfg); err != nil {
			checkURLError(t, raw, err)
		}
	})
}
