package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attest-dev/attest/flows/message"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "tok3n-s3cret-value"
	testFrom  = "+15005550006"
	testTo    = "+447700900123"
	testBody  = "Your attest code is 482913. It expires in 10 minutes."
)

// provider is a stand-in for Twilio at the HTTP edge: it checks every
// request the way the real API would see it and answers from a script.
type provider struct {
	t       *testing.T
	replies []func(w http.ResponseWriter)
	// wantForm is the exact form the request must carry.
	wantForm url.Values

	mu       sync.Mutex
	requests int
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	n := p.requests
	p.requests++
	p.mu.Unlock()
	t := p.t

	if r.Method != http.MethodPost {
		t.Errorf("method = %s", r.Method)
	}
	if want := "/2010-04-01/Accounts/" + testSID + "/Messages.json"; r.URL.Path != want {
		t.Errorf("path = %q, want %q", r.URL.Path, want)
	}
	if r.URL.RawQuery != "" {
		t.Errorf("query = %q", r.URL.RawQuery)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		t.Errorf("basic auth = %q, %q, %v", user, pass, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("content type = %q", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		t.Errorf("body %q: %v", raw, err)
	}
	if len(form) != len(p.wantForm) {
		t.Errorf("form = %v, want %v", form, p.wantForm)
	}
	for k, want := range p.wantForm {
		if got := form[k]; len(got) != 1 || got[0] != want[0] {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}

	if n >= len(p.replies) {
		t.Errorf("unexpected request %d", n+1)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	p.replies[n](w)
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

func created(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":"SM0123","status":"queued","to":%q,"body":%q}`, testTo, testBody)
}

func twilioError(status, code int, msg string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, msg, code, status)
	}
}

// hangUp drops the connection without an answer: a network error.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

type sleepRecorder struct {
	mu     sync.Mutex
	slept  []time.Duration
	result error
}

func (s *sleepRecorder) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slept = append(s.slept, d)
	return s.result
}

func newTestSMS(t *testing.T, replies ...func(http.ResponseWriter)) (*SMS, *provider, *sleepRecorder) {
	t.Helper()
	p := &provider{t: t, replies: replies, wantForm: url.Values{"To": {testTo}, "From": {testFrom}, "Body": {testBody}}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	sl := &sleepRecorder{}
	s, err := NewSMS(SMSConfig{
		BaseURL:    srv.URL,
		AccountSID: testSID,
		AuthToken:  testToken,
		From:       testFrom,
		HTTPClient: srv.Client(),
		Sleep:      sl.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, sl
}

func smsMessage() message.Message {
	return message.Message{ID: "ticket-2", Channel: message.SMS, To: testTo, Text: testBody, Created: fixedNow}
}

func TestSMSSends(t *testing.T) {
	s, p, sl := newTestSMS(t, created)
	if err := s.Send(context.Background(), smsMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if p.count() != 1 || len(sl.slept) != 0 {
		t.Errorf("requests=%d sleeps=%v", p.count(), sl.slept)
	}
}

func TestSMSMessagingService(t *testing.T) {
	p := &provider{t: t, replies: []func(http.ResponseWriter){created},
		wantForm: url.Values{"To": {testTo}, "MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}, "Body": {testBody}}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	s, err := NewSMS(SMSConfig{BaseURL: srv.URL + "/", AccountSID: testSID, AuthToken: testToken,
		MessagingServiceSID: "MG0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), smsMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestSMSErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replies  []func(http.ResponseWriter)
		requests int
		sleeps   []time.Duration
		want     []string // substrings of the error; nil means success
	}{
		{
			name:     "400 with Twilio error, not retried",
			replies:  []func(http.ResponseWriter){twilioError(400, 21211, "The 'To' number "+testTo+" is not a valid phone number.")},
			requests: 1,
			want:     []string{"HTTP 400", "error 21211", "The 'To' number [recipient] is not a valid phone number.", "https://www.twilio.com/docs/errors/21211"},
		},
		{
			name:     "401, not retried",
			replies:  []func(http.ResponseWriter){twilioError(401, 20003, "Authenticate")},
			requests: 1,
			want:     []string{"HTTP 401", "error 20003", "Authenticate"},
		},
		{
			name:     "404 without a JSON body",
			replies:  []func(http.ResponseWriter){func(w http.ResponseWriter) { http.Error(w, "no such page; you sent "+testBody, 404) }},
			requests: 1,
			want:     []string{"HTTP 404: Not Found"},
		},
		{
			name:     "429 then success, Retry-After honoured",
			replies:  []func(http.ResponseWriter){twilioError(429, 20429, "Too Many Requests"), created},
			requests: 2,
			sleeps:   []time.Duration{2 * time.Second},
		},
		{
			name:     "network error then success",
			replies:  []func(http.ResponseWriter){hangUp, created},
			requests: 2,
			sleeps:   []time.Duration{500 * time.Millisecond},
		},
		{
			name:     "500 three times",
			replies:  []func(http.ResponseWriter){twilioError(500, 20500, "Internal Server Error"), twilioError(500, 20500, "Internal Server Error"), twilioError(500, 20500, "Internal Server Error")},
			requests: 3,
			sleeps:   []time.Duration{500 * time.Millisecond, time.Second},
			want:     []string{"HTTP 500", "error 20500", "gave up after 3 attempts"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, sl := newTestSMS(t, tc.replies...)
			err := s.Send(context.Background(), smsMessage())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("Send succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				assertClean(t, err, testToken, testTo, strings.TrimPrefix(testTo, "+"), testBody, "482913", "http://127.0.0.1")
				var se *SMSError
				if !errors.As(err, &se) {
					t.Errorf("error does not unwrap to *SMSError: %v", err)
				}
			}
			if p.count() != tc.requests {
				t.Errorf("requests = %d, want %d", p.count(), tc.requests)
			}
			if fmt.Sprint(sl.slept) != fmt.Sprint(tc.sleeps) {
				t.Errorf("slept %v, want %v", sl.slept, tc.sleeps)
			}
		})
	}
}

func TestSMSStopsWhenContextEndsWhileWaiting(t *testing.T) {
	s, p, sl := newTestSMS(t, twilioError(503, 20503, "Service Unavailable"))
	sl.result = context.Canceled
	err := s.Send(context.Background(), smsMessage())
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("Send = %v", err)
	}
	if p.count() != 1 {
		t.Errorf("requests = %d", p.count())
	}
}

func TestSMSRefusesBadMessages(t *testing.T) {
	s, p, _ := newTestSMS(t)
	for name, m := range map[string]message.Message{
		"email channel":   {Channel: message.Email, To: testTo, Text: testBody},
		"not E.164":       {Channel: message.SMS, To: "07700 900123", Text: testBody},
		"injection in To": {Channel: message.SMS, To: testTo + "&To=+15005550001", Text: testBody},
		"empty body":      {Channel: message.SMS, To: testTo, Text: "  "},
	} {
		if err := s.Send(context.Background(), m); err == nil {
			t.Errorf("%s: Send succeeded", name)
		}
	}
	if p.count() != 0 {
		t.Errorf("provider saw %d requests", p.count())
	}
	var none *SMS
	if err := none.Send(context.Background(), smsMessage()); !errors.Is(err, ErrNoSMS) {
		t.Errorf("nil SMS Send = %v", err)
	}
}

func TestNewSMSValidates(t *testing.T) {
	good := SMSConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	for _, tc := range []struct {
		mutate func(*SMSConfig)
		want   string
	}{
		{func(c *SMSConfig) { c.AccountSID = "" }, "missing account SID"},
		{func(c *SMSConfig) { c.AccountSID = "AC/../x" }, "account SID"},
		{func(c *SMSConfig) { c.AuthToken = "" }, "missing auth token"},
		{func(c *SMSConfig) { c.From = "" }, "need a From"},
		{func(c *SMSConfig) { c.MessagingServiceSID = "MG1" }, "not both"},
		{func(c *SMSConfig) { c.From = "15005550006" }, "E.164"},
		{func(c *SMSConfig) { c.BaseURL = "http://api.twilio.com" }, "must be https"},
		{func(c *SMSConfig) { c.BaseURL = "https://" + testSID + ":" + testToken + "@api.twilio.com" }, "must not carry credentials"},
		{func(c *SMSConfig) { c.BaseURL = "ftp://api.twilio.com" }, "unsupported scheme"},
		{func(c *SMSConfig) { c.BaseURL = "https:///x" }, "missing host"},
	} {
		cfg := good
		tc.mutate(&cfg)
		_, err := NewSMS(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSMS(%+v) = %v, want %q", cfg, err, tc.want)
			continue
		}
		assertClean(t, err, testToken)
	}
	s, err := NewSMS(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://api.twilio.com/2010-04-01/Accounts/" + testSID + "/Messages.json"; s.endpoint != want {
		t.Errorf("endpoint = %q, want %q", s.endpoint, want)
	}
	if s.cfg.HTTPClient.Timeout != 10*time.Second {
		t.Errorf("default client timeout = %v", s.cfg.HTTPClient.Timeout)
	}
}

func TestParseSMSURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want SMSConfig
	}{
		{"https://" + testSID + ":" + testToken + "@api.twilio.com?from=%2B15005550006",
			SMSConfig{BaseURL: "https://api.twilio.com", AccountSID: testSID, AuthToken: testToken, From: testFrom}},
		{"https://" + testSID + ":" + testToken + "@api.twilio.com/?from=+15005550006",
			SMSConfig{BaseURL: "https://api.twilio.com", AccountSID: testSID, AuthToken: testToken, From: testFrom}},
		{"https://4f8a7e10-0000-4000-8000-000000000000:tok%2Fen@example.signalwire.com/api/laml?messaging_service_sid=MG1",
			SMSConfig{BaseURL: "https://example.signalwire.com/api/laml", AccountSID: "4f8a7e10-0000-4000-8000-000000000000", AuthToken: "tok/en", MessagingServiceSID: "MG1"}},
		{"http://" + testSID + ":" + testToken + "@127.0.0.1:8080?from=%2B15005550006",
			SMSConfig{BaseURL: "http://127.0.0.1:8080", AccountSID: testSID, AuthToken: testToken, From: testFrom}},
	} {
		got, err := ParseSMSURL(tc.raw)
		if err != nil {
			t.Errorf("ParseSMSURL(%q): %v", tc.raw, err)
			continue
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
			t.Errorf("ParseSMSURL(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
	for _, tc := range []struct{ raw, want string }{
		{"https://api.twilio.com?from=%2B15005550006", "missing credentials"},
		{"https://" + testSID + "@api.twilio.com?from=%2B15005550006", "missing auth token"},
		{"https://" + testSID + ":" + testToken + "@api.twilio.com", "need a From"},
		{"https://" + testSID + ":" + testToken + "@api.twilio.com?from=%2B15005550006&verbose=1", `unknown parameter "verbose"`},
		{"https://" + testSID + ":" + testToken + "@api.twilio.com:bad?from=%2B15005550006", "invalid port"},
		{"http://" + testSID + ":" + testToken + "@api.twilio.com?from=%2B15005550006", "must be https"},
	} {
		_, err := ParseSMSURL(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSMSURL(%q) = %v, want %q", tc.raw, err, tc.want)
			continue
		}
		assertClean(t, err, testToken)
	}
}
