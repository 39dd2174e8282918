package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows/message"
)

// DefaultSMSBaseURL is Twilio's API.
const DefaultSMSBaseURL = "https://api.twilio.com"

const (
	defaultSMSAttempts = 3
	defaultSMSTimeout  = 10 * time.Second
	// maxRetryAfter caps a provider's Retry-After: a sign-in is waiting on
	// this message, and past a few seconds the code is better reported as
	// failed than delivered late.
	maxRetryAfter = 10 * time.Second
)

var (
	e164Re = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	// Twilio SIDs are letters and digits; compatible providers (SignalWire)
	// use UUIDs, hence the dash.
	sidRe = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// SMSConfig configures a Twilio-compatible Messages API client.
type SMSConfig struct {
	// BaseURL is the API root; requests go to
	// {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json. Empty means
	// DefaultSMSBaseURL. It may carry a path prefix (SignalWire's is
	// /api/laml). It must be https, except on a loopback host.
	BaseURL    string
	AccountSID string
	AuthToken  string
	// Exactly one of From (an E.164 number) and MessagingServiceSID.
	From                string
	MessagingServiceSID string

	// HTTPClient sends the requests. Nil means a client with a 10 s
	// timeout that does not follow redirects (a redirected POST would
	// silently become a GET). A client given here should have a timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds tries per message; 0 means 3. Only network errors,
	// 429 and 5xx are retried. A network error after the request went out
	// may mean the SMS was sent, so a retry can deliver it twice: the same
	// code twice is judged better than none.
	MaxAttempts int
	// Backoff returns the wait after the given failed attempt (1-based).
	// Nil means 500 ms, then 1 s, doubling. A longer Retry-After from the
	// provider wins, up to 10 s.
	Backoff func(attempt int) time.Duration
	// Sleep waits d or until ctx is done. Nil means a real timer; tests
	// inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// SMS sends text messages through a Twilio-compatible Messages API.
type SMS struct {
	cfg      SMSConfig
	endpoint string
	host     string
}

// SMSError is a refusal by the provider. Message has had the recipient
// and message text removed.
type SMSError struct {
	Status   int    // HTTP status
	Code     int    // provider error code (Twilio's "code"), 0 if none
	Message  string // provider's message
	MoreInfo string // provider's documentation link
}

func (e *SMSError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", error %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.MoreInfo != "" {
		b.WriteString(" (" + e.MoreInfo + ")")
	}
	return b.String()
}

// NewSMS validates cfg and returns a sender.
func NewSMS(cfg SMSConfig) (*SMS, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultSMSBaseURL
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: defaultSMSTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultSMSAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(attempt int) time.Duration {
			return 500 * time.Millisecond << min(attempt-1, 5)
		}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	return &SMS{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(base.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		host:     base.Host,
	}, nil
}

func (c SMSConfig) validate() error {
	switch {
	case c.AccountSID == "":
		return errors.New("sms: missing account SID")
	case !sidRe.MatchString(c.AccountSID):
		return errors.New("sms: account SID must be letters, digits and dashes")
	case c.AuthToken == "":
		return errors.New("sms: missing auth token")
	case c.From == "" && c.MessagingServiceSID == "":
		return errors.New("sms: need a From number or a messaging service SID")
	case c.From != "" && c.MessagingServiceSID != "":
		return errors.New("sms: give a From number or a messaging service SID, not both")
	case c.From != "" && !e164Re.MatchString(c.From):
		return fmt.Errorf("sms: From %q is not an E.164 number (like +15005550006)", c.From)
	case c.MessagingServiceSID != "" && !sidRe.MatchString(c.MessagingServiceSID):
		return errors.New("sms: messaging service SID must be letters, digits and dashes")
	}
	return nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("sms: base URL: %v", err)
	}
	if u.User != nil {
		return nil, errors.New("sms: base URL must not carry credentials (set AccountSID and AuthToken)")
	}
	if u.Host == "" {
		return nil, errors.New("sms: base URL: missing host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain HTTP would expose the auth token; it is only for a local
		// stand-in for the provider.
		if !isLoopback(u.Hostname()) {
			return nil, errors.New("sms: base URL must be https (http only on a loopback host)")
		}
	default:
		return nil, fmt.Errorf("sms: base URL: unsupported scheme %q", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("sms: base URL must not have a query or fragment")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSMSURL reads an SMS configuration from one URL, for the command
// line:
//
//	https://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=%2B15005550006
//	https://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?messaging_service_sid=MG...
//
// Scheme, host and path become BaseURL. A "+" left unencoded in from reads
// as a space in a query; since an E.164 number cannot start with a space,
// it is taken as the "+" that was meant.
func ParseSMSURL(raw string) (SMSConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, token included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return SMSConfig{}, fmt.Errorf("sms url: %v", err)
	}
	if u.User == nil {
		return SMSConfig{}, errors.New("sms url: missing credentials (want https://ACCOUNT_SID:AUTH_TOKEN@host)")
	}
	var cfg SMSConfig
	cfg.AccountSID = u.User.Username()
	cfg.AuthToken, _ = u.User.Password()
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return SMSConfig{}, fmt.Errorf("sms url: query: %v", err)
	}
	for k, v := range q {
		val := v[len(v)-1]
		switch k {
		case "from":
			if strings.HasPrefix(val, " ") {
				val = "+" + val[1:]
			}
			cfg.From = val
		case "messaging_service_sid":
			cfg.MessagingServiceSID = val
		default:
			return SMSConfig{}, fmt.Errorf("sms url: unknown parameter %q (want from or messaging_service_sid)", k)
		}
	}
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	base, err := parseBaseURL(u.String())
	if err != nil {
		return SMSConfig{}, err
	}
	cfg.BaseURL = base.String()
	if err := cfg.validate(); err != nil {
		return SMSConfig{}, err
	}
	return cfg, nil
}

// Send hands m, an SMS message, to the provider. It returns once the
// provider has accepted it for delivery.
func (s *SMS) Send(ctx context.Context, m message.Message) error {
	if s == nil {
		return ErrNoSMS
	}
	if m.Channel != message.SMS {
		return fmt.Errorf("sms: cannot send a %q message by SMS", m.Channel)
	}
	if !e164Re.MatchString(m.To) {
		return errors.New("sms: recipient is not an E.164 number")
	}
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("sms: empty message")
	}
	rs := []redaction{
		{s.cfg.AuthToken, "[redacted]"},
		{m.To, "[recipient]"},
		{strings.TrimPrefix(m.To, "+"), "[recipient]"},
	}
	rs = append(rs, bodyRedactions(m.Text)...)

	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if s.cfg.From != "" {
		form.Set("From", s.cfg.From)
	} else {
		form.Set("MessagingServiceSid", s.cfg.MessagingServiceSID)
	}
	body := form.Encode()

	for attempt := 1; ; attempt++ {
		retry, wait, err := s.try(ctx, body, rs)
		if err == nil {
			return nil
		}
		if !retry || attempt >= s.cfg.MaxAttempts {
			if attempt > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return scrub(err, rs...)
		}
		d := s.cfg.Backoff(attempt)
		if wait > d {
			d = min(wait, maxRetryAfter)
		}
		if serr := s.cfg.Sleep(ctx, d); serr != nil {
			return scrub(fmt.Errorf("%w (stopped before retrying: %w)", err, serr), rs...)
		}
	}
}

// try makes one request. retry says whether another attempt may succeed,
// wait is the provider's Retry-After, if any.
func (s *SMS) try(ctx context.Context, body string, rs []redaction) (retry bool, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("sms: build request: %w", err)
	}
	req.SetBasicAuth(s.cfg.AccountSID, s.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return false, 0, fmt.Errorf("sms: request to %s: %w", s.host, cerr)
		}
		// url.Error would repeat the endpoint, account SID included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, 0, fmt.Errorf("sms: request to %s: %w", s.host, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}

	apiErr := &SMSError{Status: resp.StatusCode}
	var tw struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	// Only a well-formed provider error is quoted: any other body (a
	// proxy's page, say) might echo the request, code included.
	if json.Unmarshal(data, &tw) == nil {
		apiErr.Code = tw.Code
		apiErr.Message = scrubText(strings.ToValidUTF8(tw.Message, ""), rs...)
		if strings.HasPrefix(tw.MoreInfo, "https://") {
			apiErr.MoreInfo = tw.MoreInfo
		}
	}
	if apiErr.Message == "" {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	if retry {
		wait = retryAfter(resp.Header.Get("Retry-After"))
	}
	return retry, wait, fmt.Errorf("sms: %s refused the message: %w", s.host, apiErr)
}

// retryAfter reads the delay-seconds form; Twilio does not send dates.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
