package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/attest-dev/attest/flows/message"
)

const (
	defaultSMTPDialTimeout = 10 * time.Second
	defaultSMTPSendTimeout = 30 * time.Second
)

// SMTP submits email messages to one SMTP server, always over TLS: the
// messages carry one-time codes, which are as secret as the credentials.
type SMTP struct {
	addr        string // host:port
	host        string
	implicitTLS bool
	user, pass  string
	from        mail.Address
	fromDomain  string
	tlsConfig   *tls.Config
	dialTimeout time.Duration
	sendTimeout time.Duration
	now         func() time.Time
}

// SMTPOption configures NewSMTP.
type SMTPOption func(*SMTP)

// WithTLSConfig sets the TLS configuration used for STARTTLS or implicit
// TLS, typically to trust a private CA (RootCAs). When ServerName is empty
// the URL's host is used. The config is cloned.
func WithTLSConfig(c *tls.Config) SMTPOption {
	return func(s *SMTP) {
		if c != nil {
			s.tlsConfig = c.Clone()
		}
	}
}

// WithSMTPTimeouts bounds connecting (dial) and a whole Send (send:
// connect, TLS, auth and submission). Zero keeps the default (10 s, 30 s).
func WithSMTPTimeouts(dial, send time.Duration) SMTPOption {
	return func(s *SMTP) {
		if dial > 0 {
			s.dialTimeout = dial
		}
		if send > 0 {
			s.sendTimeout = send
		}
	}
}

// WithSMTPClock sets the clock that stamps the Date header.
func WithSMTPClock(now func() time.Time) SMTPOption {
	return func(s *SMTP) {
		if now != nil {
			s.now = now
		}
	}
}

// NewSMTP returns a sender that submits mail as from (an address, optionally
// with a display name: "Attest <no-reply@example.com>") through the server
// in rawURL:
//
//	smtp://user:pass@host:587    STARTTLS, required (port defaults to 587)
//	smtps://user:pass@host:465   implicit TLS (port defaults to 465)
//
// User and password are optional (no AUTH without them) and must be
// percent-encoded. AUTH PLAIN is used, only ever inside TLS.
//
// One query parameter is understood: ca_file=/path/to/ca.pem trusts the
// certificates in that PEM file instead of the system roots, for private or
// self-signed servers (it replaces any RootCAs from WithTLSConfig). There is
// deliberately no option to skip certificate verification: it would hand
// the credentials and every code to anyone on the path, and ca_file (or
// WithTLSConfig) covers the legitimate need.
func NewSMTP(rawURL, from string, opts ...SMTPOption) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("smtp url: %v", err)
	}
	s := &SMTP{
		dialTimeout: defaultSMTPDialTimeout,
		sendTimeout: defaultSMTPSendTimeout,
		now:         time.Now,
	}
	var defaultPort string
	switch u.Scheme {
	case "smtp":
		defaultPort = "587"
	case "smtps":
		defaultPort = "465"
		s.implicitTLS = true
	case "":
		return nil, errors.New(`smtp url: missing scheme (want "smtp://" for STARTTLS or "smtps://" for implicit TLS)`)
	default:
		return nil, fmt.Errorf(`smtp url: unknown scheme %q (want "smtp" for STARTTLS or "smtps" for implicit TLS)`, u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New(`smtp url: want smtp://[user:password@]host[:port]`)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("smtp url: missing host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("smtp url: invalid port %q", port)
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("smtp url: unexpected path (want smtp://[user:password@]host[:port])")
	}
	if u.Fragment != "" {
		return nil, errors.New("smtp url: unexpected fragment")
	}
	if u.User != nil {
		s.user = u.User.Username()
		pass, ok := u.User.Password()
		if s.user == "" {
			return nil, errors.New("smtp url: empty user name")
		}
		if !ok || pass == "" {
			return nil, errors.New("smtp url: user given without a password")
		}
		s.pass = pass
	}

	for _, o := range opts {
		o(s)
	}
	if s.tlsConfig == nil {
		s.tlsConfig = &tls.Config{}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("smtp url: query: %v", err)
	}
	for k, v := range q {
		switch k {
		case "ca_file":
			pool, err := loadCAFile(v[len(v)-1])
			if err != nil {
				return nil, fmt.Errorf("smtp url: ca_file: %w", err)
			}
			s.tlsConfig.RootCAs = pool
		default:
			return nil, fmt.Errorf("smtp url: unknown parameter %q (only ca_file is supported)", k)
		}
	}

	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp: invalid from address: %v", err)
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 || at == len(addr.Address)-1 {
		return nil, errors.New("smtp: from address has no domain")
	}
	s.from = *addr
	s.fromDomain = addr.Address[at+1:]
	return s, nil
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates in %s", path)
	}
	return pool, nil
}

// Send submits m, an email message. It returns once the server has accepted
// the message for delivery.
func (s *SMTP) Send(ctx context.Context, m message.Message) error {
	if s == nil {
		return ErrNoEmail
	}
	if m.Channel != message.Email {
		return fmt.Errorf("smtp: cannot send a %q message by email", m.Channel)
	}
	rs := []redaction{{s.pass, "[redacted]"}}
	if s.pass != "" {
		// The AUTH PLAIN initial response, in case a server echoes it.
		rs = append(rs, redaction{base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.pass)), "[redacted]"})
	}
	rs = append(rs, redaction{m.To, "[recipient]"})
	rs = append(rs, bodyRedactions(m.Text)...)
	return scrub(s.send(ctx, m), rs...)
}

func (s *SMTP) send(ctx context.Context, m message.Message) error {
	// Everything that can be refused is refused before connecting, so a bad
	// message never reaches the server.
	to, err := recipient(m.To)
	if err != nil {
		return err
	}
	msg, err := s.compose(m, to)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, s.sendTimeout)
	defer cancel()

	d := net.Dialer{Timeout: s.dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	defer conn.Close()
	// go-smtp sets and then clears its own per-command deadlines, so a
	// deadline set here would not survive; closing the connection is what
	// reliably interrupts it when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// wrap prefers the context's reason: after the close above, the
	// library only sees "use of closed network connection".
	wrap := func(stage string, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("smtp: %s with %s: %w", stage, s.addr, cerr)
		}
		return fmt.Errorf("smtp: %s with %s: %w", stage, s.addr, err)
	}

	var c *smtp.Client
	if s.implicitTLS {
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return wrap("TLS handshake", err)
		}
		c = smtp.NewClient(tc)
	} else {
		c, err = smtp.NewClientStartTLS(conn, s.tlsConfig)
		if err != nil {
			if ctx.Err() == nil && strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return fmt.Errorf("smtp: server %s does not offer STARTTLS; refusing to send credentials or codes in clear (use smtps:// if it speaks implicit TLS)", s.addr)
			}
			return wrap("STARTTLS", err)
		}
	}
	defer c.Close()
	c.CommandTimeout = s.sendTimeout
	c.SubmissionTimeout = s.sendTimeout
	// go-smtp completes the STARTTLS handshake lazily and later methods
	// swallow a failed EHLO, so a bad certificate would surface as "no
	// AUTH offered". Saying EHLO now puts the real reason first.
	if err := c.Hello("localhost"); err != nil {
		if s.implicitTLS {
			return wrap("EHLO", err)
		}
		return wrap("STARTTLS", err)
	}

	if s.user != "" {
		if !c.SupportsAuth(sasl.Plain) {
			if ok, _ := c.Extension("AUTH"); !ok {
				return fmt.Errorf("smtp: server %s does not offer AUTH, but credentials are configured", s.addr)
			}
			return fmt.Errorf("smtp: server %s does not offer AUTH PLAIN", s.addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", s.user, s.pass)); err != nil {
			return wrap("authentication", err)
		}
	}
	var mopts *smtp.MailOptions
	if !isASCII(s.from.Address) || !isASCII(to.Address) {
		mopts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(s.from.Address, mopts); err != nil {
		return wrap("MAIL FROM", err)
	}
	if err := c.Rcpt(to.Address, nil); err != nil {
		return wrap("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return wrap("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return wrap("DATA", err)
	}
	if err := w.Close(); err != nil {
		return wrap("DATA", err)
	}
	// The server has taken the message. A failed QUIT must not turn that
	// into a recorded failure (and a resend).
	_ = c.Quit()
	return nil
}

func recipient(to string) (*mail.Address, error) {
	if strings.ContainsAny(to, "\r\n") {
		return nil, errors.New("smtp: recipient contains a line break (header injection?)")
	}
	a, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("smtp: invalid recipient address: %v", err)
	}
	if a.Name != "" {
		// The flows hand over a bare, normalized address; anything else is
		// not what was decided (and hashed) in the ledger.
		return nil, errors.New("smtp: recipient must be a bare address")
	}
	return a, nil
}

// compose builds the RFC 5322 message.
func (s *SMTP) compose(m message.Message, to *mail.Address) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("smtp: subject contains a line break (header injection?)")
	}
	if strings.ContainsFunc(m.Subject, isControl) {
		return nil, errors.New("smtp: subject contains a control character")
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("smtp: message id: %w", err)
	}

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", encodeSubject(m.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+s.fromDomain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: keeps vacation responders from answering a code.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, fmt.Errorf("smtp: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("smtp: encode body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// encodeSubject RFC 2047-encodes a non-ASCII subject and folds between the
// encoded words, so no header line outgrows the 78-character recommendation
// however long the subject.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

func isControl(r rune) bool {
	return r < 0x20 && r != '\t' || r == 0x7f
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
