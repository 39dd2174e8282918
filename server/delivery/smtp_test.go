package delivery

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/attest-dev/attest/flows/message"
)

const (
	testUser = "mailer@example.com"
	testPass = "pa55:w0rd/Secret!"
)

// testCert is a self-signed certificate for 127.0.0.1, made fresh per test.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "attest test smtp"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, pemBytes
}

type authAttempt struct {
	user, pass string
	tls        bool
}

type receivedMail struct {
	authUser string
	from     string
	to       []string
	data     []byte
	tls      bool
}

// mailServer is a real SMTP server (emersion/go-smtp) recording what
// reaches it.
type mailServer struct {
	addr string
	pool *x509.CertPool
	pem  []byte

	// What the server answers; set before sending.
	authErr error // returned for a wrong password
	rcptErr error

	mu       sync.Mutex
	sessions int
	auths    []authAttempt
	mails    []receivedMail
}

type serverMode int

const (
	modeSTARTTLS serverMode = iota
	modeImplicitTLS
	modePlainOnly // no TLS at all, yet willing to take AUTH in clear
)

func startMailServer(t *testing.T, mode serverMode) *mailServer {
	t.Helper()
	cert, pool, pemBytes := testCert(t)
	ms := &mailServer{pool: pool, pem: pemBytes, authErr: smtp.ErrAuthFailed}
	srv := smtp.NewServer(ms)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableSMTPUTF8 = true
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}

	var l net.Listener
	var err error
	switch mode {
	case modeSTARTTLS:
		srv.TLSConfig = tlsCfg
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case modeImplicitTLS:
		l, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	case modePlainOnly:
		srv.AllowInsecureAuth = true
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		// Close can run before Serve has registered the listener, and then
		// closes nothing: closing it here ends Serve's Accept either way.
		l.Close()
		<-done
	})
	return ms
}

func (ms *mailServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ms.mu.Lock()
	ms.sessions++
	ms.mu.Unlock()
	return &mailSession{ms: ms, conn: c}, nil
}

func (ms *mailServer) snapshot() (sessions int, auths []authAttempt, mails []receivedMail) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.sessions, append([]authAttempt(nil), ms.auths...), append([]receivedMail(nil), ms.mails...)
}

type mailSession struct {
	ms   *mailServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *mailSession) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.ms.mu.Lock()
		s.ms.auths = append(s.ms.auths, authAttempt{user: user, pass: pass, tls: s.isTLS()})
		s.ms.mu.Unlock()
		if user != testUser || pass != testPass {
			return s.ms.authErr
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.ms.rcptErr != nil {
		return s.ms.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.mails = append(s.ms.mails, receivedMail{authUser: s.user, from: s.from, to: s.to, data: data, tls: s.isTLS()})
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

func credURL(scheme, addr string) string {
	return scheme + "://" + url.UserPassword(testUser, testPass).String() + "@" + addr
}

var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

func emailMessage() message.Message {
	return message.Message{
		ID:      "ticket-1",
		Channel: message.Email,
		To:      "zoe@example.org",
		Subject: "Votre code de connexion — Zoë ✓",
		Text: "Bonjour Zoë,\n\nYour code is 482913.\n.\n" +
			"This line is deliberately longer than seventy-six characters, so that quoted-printable must soft-break it = fine.\n" +
			"Naïve café über 日本語.",
		Created: fixedNow,
	}
}

func TestSMTPSTARTTLSDelivers(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	s, err := NewSMTP(credURL("smtp", ms.addr), "Attest Sign-in <no-reply@example.com>",
		WithTLSConfig(&tls.Config{RootCAs: ms.pool}), WithSMTPClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatal(err)
	}
	m := emailMessage()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	_, auths, mails := ms.snapshot()
	if len(auths) != 1 || !auths[0].tls || auths[0].user != testUser || auths[0].pass != testPass {
		t.Fatalf("auth attempts = %+v, want one PLAIN auth inside TLS", auths)
	}
	if len(mails) != 1 {
		t.Fatalf("got %d mails, want 1", len(mails))
	}
	got := mails[0]
	if got.authUser != testUser || !got.tls {
		t.Errorf("mail authUser=%q tls=%v", got.authUser, got.tls)
	}
	if got.from != "no-reply@example.com" {
		t.Errorf("envelope from = %q", got.from)
	}
	if len(got.to) != 1 || got.to[0] != "zoe@example.org" {
		t.Errorf("envelope to = %q", got.to)
	}

	for i, line := range strings.Split(string(got.data), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long: %q", i, len(line), line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("parse received message: %v\n%s", err, got.data)
	}
	h := msg.Header
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Name != "Attest Sign-in" || from.Address != "no-reply@example.com" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if h.Get("To") != "<zoe@example.org>" {
		t.Errorf("To = %q", h.Get("To"))
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("raw Subject %q is not RFC 2047-encoded", h.Get("Subject"))
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", subj, err, m.Subject)
	}
	date, err := h.Date()
	if err != nil || !date.Equal(fixedNow) {
		t.Errorf("Date = %q (%v), want %v", h.Get("Date"), err, fixedNow)
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID = %q", h.Get("Message-ID"))
	}
	for k, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	gotText := strings.TrimSuffix(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	if gotText != m.Text {
		t.Errorf("decoded body:\n%q\nwant:\n%q", gotText, m.Text)
	}

	// A second message gets its own Message-ID.
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, _, mails = ms.snapshot()
	m2, _ := mail.ReadMessage(bytes.NewReader(mails[1].data))
	if m2.Header.Get("Message-ID") == h.Get("Message-ID") {
		t.Error("two messages share a Message-ID")
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ms := startMailServer(t, modeImplicitTLS)
	s, err := NewSMTP(credURL("smtps", ms.addr), "no-reply@example.com", WithTLSConfig(&tls.Config{RootCAs: ms.pool}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	_, auths, mails := ms.snapshot()
	if len(auths) != 1 || !auths[0].tls {
		t.Errorf("auths = %+v", auths)
	}
	if len(mails) != 1 || !mails[0].tls || mails[0].authUser != testUser {
		t.Fatalf("mails = %+v", mails)
	}
}

func TestSMTPTrustsCAFileFromURL(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ms.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewSMTP(credURL("smtp", ms.addr)+"?ca_file="+url.QueryEscape(caFile), "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestSMTPRejectsUntrustedCertificate(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	s, err := NewSMTP(credURL("smtp", ms.addr), "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), emailMessage())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a certificate error", err)
	}
	if _, auths, _ := ms.snapshot(); len(auths) != 0 {
		t.Errorf("credentials reached an unverified server: %+v", auths)
	}
}

func TestSMTPRefusesServerWithoutSTARTTLS(t *testing.T) {
	ms := startMailServer(t, modePlainOnly)
	s, err := NewSMTP(credURL("smtp", ms.addr), "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), emailMessage())
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Send = %v, want a STARTTLS refusal", err)
	}
	assertClean(t, err, testPass, "zoe@example.org", "482913")
	if _, auths, mails := ms.snapshot(); len(auths) != 0 || len(mails) != 0 {
		t.Errorf("server saw auths=%+v mails=%d, want nothing", auths, len(mails))
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	// A careless server that echoes the password it was given.
	ms.authErr = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad password " + testPass}
	u := "smtp://" + url.UserPassword("someone@example.com", testPass).String() + "@" + ms.addr
	s, err := NewSMTP(u, "no-reply@example.com", WithTLSConfig(&tls.Config{RootCAs: ms.pool}))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), emailMessage())
	if err == nil || !strings.Contains(err.Error(), "authentication") || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Send = %v, want an authentication failure", err)
	}
	assertClean(t, err, testPass, "zoe@example.org", "482913")
	if _, _, mails := ms.snapshot(); len(mails) != 0 {
		t.Errorf("got %d mails after failed auth", len(mails))
	}
}

func TestSMTPRecipientEchoIsScrubbed(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	ms.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<Zoe@Example.ORG>: Recipient address rejected"}
	s, err := NewSMTP(credURL("smtp", ms.addr), "no-reply@example.com", WithTLSConfig(&tls.Config{RootCAs: ms.pool}))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), emailMessage())
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "[recipient]") {
		t.Fatalf("Send = %v, want a 550 with the recipient scrubbed", err)
	}
	assertClean(t, err, testPass, "zoe@example.org")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("error does not unwrap to the SMTP reply: %v", err)
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	ms := startMailServer(t, modeSTARTTLS)
	s, err := NewSMTP(credURL("smtp", ms.addr), "no-reply@example.com", WithTLSConfig(&tls.Config{RootCAs: ms.pool}))
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*message.Message){
		"subject CRLF":    func(m *message.Message) { m.Subject = "Hello\r\nBcc: attacker@evil.example" },
		"subject LF":      func(m *message.Message) { m.Subject = "Hello\nBcc: attacker@evil.example" },
		"subject control": func(m *message.Message) { m.Subject = "Hello\x00there" },
		"to CRLF":         func(m *message.Message) { m.To = "zoe@example.org\r\nBcc: attacker@evil.example" },
		"to with name":    func(m *message.Message) { m.To = "Zoe <zoe@example.org>" },
		"to invalid":      func(m *message.Message) { m.To = "not an address" },
	} {
		t.Run(name, func(t *testing.T) {
			m := emailMessage()
			mutate(&m)
			if err := s.Send(context.Background(), m); err == nil {
				t.Fatal("Send succeeded")
			} else {
				assertClean(t, err, testPass, "zoe@example.org", "attacker")
			}
		})
	}
	if sessions, _, mails := ms.snapshot(); sessions != 0 || len(mails) != 0 {
		t.Errorf("server saw %d sessions and %d mails, want none", sessions, len(mails))
	}
}

func TestSMTPHonoursContext(t *testing.T) {
	// A server that accepts and then never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
			cancel()
		}
	}()
	s, err := NewSMTP(credURL("smtp", l.Addr().String()), "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(ctx, emailMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	(<-accepted).Close()
}

func TestSMTPWrongChannelAndNil(t *testing.T) {
	s, err := NewSMTP("smtps://mail.example.com", "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m := emailMessage()
	m.Channel = message.SMS
	if err := s.Send(context.Background(), m); err == nil {
		t.Error("SMTP sent an SMS message")
	}
	var none *SMTP
	if err := none.Send(context.Background(), emailMessage()); !errors.Is(err, ErrNoEmail) {
		t.Errorf("nil SMTP Send = %v, want ErrNoEmail", err)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	for _, tc := range []struct {
		url, from, want string
	}{
		{"ftp://u:p@host", "a@example.com", `unknown scheme "ftp"`},
		{"mail.example.com:587", "a@example.com", "unknown scheme"},
		{"//mail.example.com", "a@example.com", "missing scheme"},
		{"smtp://", "a@example.com", "missing host"},
		{"smtp://u:hunter22@:587", "a@example.com", "missing host"},
		{"smtp://u:hunter22@host:99999", "a@example.com", "invalid port"},
		{"smtp://u:hunter22@host:x", "a@example.com", "invalid port"},
		{"smtp://u@host", "a@example.com", "without a password"},
		{"smtp://u:hunter22@host/inbox", "a@example.com", "unexpected path"},
		{"smtp://u:hunter22@host?insecure_skip_verify=1", "a@example.com", `unknown parameter "insecure_skip_verify"`},
		{"smtp://u:hunter22@host?ca_file=/nonexistent/ca.pem", "a@example.com", "ca_file"},
		{"smtp://u:hunter22@host", "not an address", "invalid from"},
		{"smtp://u:hunter22@ho st", "a@example.com", "invalid character"},
	} {
		_, err := NewSMTP(tc.url, tc.from)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSMTP(%q, %q) = %v, want error containing %q", tc.url, tc.from, err, tc.want)
			continue
		}
		assertClean(t, err, "hunter22")
	}
	for _, ok := range []string{"smtp://host", "smtps://u:p@host", "smtp://u%40example.com:p%2Fq@host:25/"} {
		if _, err := NewSMTP(ok, "Name <a@example.com>"); err != nil {
			t.Errorf("NewSMTP(%q) = %v", ok, err)
		}
	}
}

func assertClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
			t.Errorf("error text %q contains %q", err.Error(), s)
		}
	}
}
