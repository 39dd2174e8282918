package httpd

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Magic-link tokens are 16 random bytes (128 bits, ASVS 5.0 11.5.1) in
// lower-case base32 without padding: 26 characters. This is the format
// flows mints; TokenLen and ValidToken are here so both sides can agree
// and so a request with anything else never reaches Links.
const TokenLen = 26

const tokenBytes = 16

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ValidToken reports whether s has the form of a magic-link token. It
// accepts only the canonical spelling (the last character's unused bits
// zero), so one token has one URL.
func ValidToken(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	raw, err := tokenEncoding.DecodeString(s)
	return err == nil && len(raw) == tokenBytes && tokenEncoding.EncodeToString(raw) == s
}

// The page's only style, inline so the page needs nothing else; the CSP
// allows exactly this text by its hash.
const pageStyle = `body{font:1.1rem/1.5 system-ui,sans-serif;margin:0;padding:2rem 1rem;background:#fafafa;color:#1a1a1a}` +
	`main{max-width:32rem;margin:0 auto}h1{font-size:1.4rem;font-weight:600}strong{font-family:ui-monospace,monospace;letter-spacing:.1em}` +
	`button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:.4rem;background:#1f5fbf;color:#fff;cursor:pointer}` +
	`.note{color:#555;font-size:.95rem}`

var csp = "default-src 'none'; style-src 'sha256-" + styleHash() + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// The style goes into the template source, not through an action: an
// action would be escaped and no longer match the hash.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · attest</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
{{if .Ask -}}
{{if .AskAddress -}}
<h1>Confirm this address on your attest account?</h1>
{{- else -}}
<h1>Sign in your terminal to attest?</h1>
{{- end}}
{{if .Text}}<p>{{.Text}}</p>
{{end -}}
{{if .AskAddress -}}
<p>Type the {{.CheckLen}} characters that the terminal where you added this address shows beside it, then press the button.</p>
{{- else -}}
<p>Type the {{.CheckLen}} characters that the terminal where you asked for this link shows, then press the button.</p>
{{- end}}
<p class="note">They prove that the person pressing is the person at that terminal: this link works for whoever asked for it, and someone who asked for it with your address would be let in, not you. So never type characters that someone else tells you or sends you, whoever they say they are; if you did not ask for this link in a terminal yourself, close this page. A wrong answer ends the link.</p>
<form method="post"><p><label for="check">Characters from your terminal</label><br>
<input id="check" name="check" required autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="{{.CheckMax}}" size="8"></p>
<button type="submit">{{if .AskAddress}}Confirm the address{{else}}Sign in{{end}}</button></form>
{{- else -}}
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{- end}}
</main>
</body>
</html>
`))

type pageData struct {
	Title      string
	Text       string
	Ask        bool // the question: the check, and the button
	AskAddress bool // asked by a link that confirms an address
	CheckLen   int  // how many characters the link's check has
	CheckMax   int  // the most the field takes, spaces and dashes included
}

// checkMax bounds what the page's field and the POST accept as a check,
// so a stray space or dash still fits and nothing longer goes further.
const checkMax = 16

// stateText says plainly why a link did nothing.
func stateText(l Link) (status int, title, text string) {
	switch l.State {
	case LinkUsed:
		return http.StatusGone, "Link already used", "This link was already used."
	case LinkExpired:
		return http.StatusGone, "Link expired", "This link expired at " + l.Expires.UTC().Format("15:04") + " UTC; ask for a new one in the terminal."
	case LinkSessionGone:
		return http.StatusGone, "Session ended", "The terminal session that asked for this link has ended."
	case LinkReplaced:
		return http.StatusGone, "Link replaced", "A newer message went to this address since, and only its link works now. Use the newest message, or the code in the terminal."
	case LinkEnded:
		if l.Address {
			return http.StatusGone, "Link ended", "A wrong answer ended this link, and the address stays unconfirmed. If you added it yourself, enter the code from the same message in the terminal instead, or ask there for a new one."
		}
		return http.StatusGone, "Link ended", "A wrong answer ended this link, and nobody was signed in by it. If you asked for it yourself, ask for a new one in the terminal."
	default:
		return http.StatusNotFound, "Link not valid", "This link is not valid."
	}
}

func (s *site) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, d); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "render page", slog.String("error", err.Error()))
	}
}

func (s *site) renderState(w http.ResponseWriter, r *http.Request, l Link) {
	status, title, text := stateText(l)
	s.render(w, r, status, pageData{Title: title, Text: text})
}

// fail answers a Links error: a Refusal is shown as it is, anything else
// is logged (with the token cut out, in case the error quotes it) and
// gets an apology.
func (s *site) fail(w http.ResponseWriter, r *http.Request, l Link, token, what string, err error) {
	if ref, ok := errors.AsType[*Refusal](err); ok {
		if l.Mistyped {
			// The check was mistyped (not wrong): the link is as it was,
			// so the question stands, with what to fix.
			d := askPage(l)
			d.Text = ref.Message
			s.render(w, r, http.StatusUnprocessableEntity, d)
			return
		}
		title := "Not signed in"
		if l.Address {
			title = "Not confirmed"
		}
		s.render(w, r, http.StatusConflict, pageData{Title: title, Text: ref.Message})
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelError, what, slog.String("error", strings.ReplaceAll(err.Error(), token, "…")))
	s.render(w, r, http.StatusInternalServerError, pageData{Title: "Something went wrong",
		Text: "Something went wrong on our side. Try again in a moment, or ask for a new link in the terminal."})
}

// peek shows the link's page and changes nothing.
func (s *site) peek(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !ValidToken(token) {
		s.renderState(w, r, Link{State: LinkUnknown})
		return
	}
	l, err := s.links.Peek(r.Context(), token)
	if err != nil {
		s.fail(w, r, l, token, "peek magic link", err)
		return
	}
	if l.State != LinkLive {
		s.renderState(w, r, l)
		return
	}
	s.render(w, r, http.StatusOK, askPage(l))
}

// askPage is a live link's question. It names nothing of the terminal
// that asked: the check it asks for is on that terminal alone.
func askPage(l Link) pageData {
	d := pageData{Title: "Sign in", Ask: true, CheckLen: l.CheckLen, CheckMax: checkMax}
	if l.Address {
		d.Title, d.AskAddress = "Confirm this address", true
	}
	return d
}

// confirm is the button: it uses the link.
func (s *site) confirm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if err := sameOrigin(r); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "refused magic link confirmation", slog.String("error", err.Error()))
		s.render(w, r, http.StatusForbidden, pageData{Title: "Not signed in",
			Text: "This request did not come from the link's own page. Open the link from your email and press its button."})
		return
	}
	if !ValidToken(token) {
		s.renderState(w, r, Link{State: LinkUnknown})
		return
	}
	check, bad := formCheck(w, r)
	if bad != "" {
		s.render(w, r, http.StatusBadRequest, pageData{Title: "Not confirmed", Text: bad})
		return
	}
	l, err := s.links.Confirm(r.Context(), token, check)
	if err != nil {
		s.fail(w, r, l, token, "confirm magic link", err)
		return
	}
	if l.State != LinkLive {
		s.renderState(w, r, l)
		return
	}
	if l.Address {
		s.render(w, r, http.StatusOK, pageData{Title: "Address confirmed",
			Text: "The address is confirmed on your attest account. You can close this tab."})
		return
	}
	if l.Away {
		s.render(w, r, http.StatusOK, pageData{Title: "Address confirmed",
			Text: "Your address is confirmed and your account is ready. The terminal that asked has closed; connect again with the same key and it is signed in."})
		return
	}
	if l.SecondFactor {
		s.render(w, r, http.StatusOK, pageData{Title: "One more step", Text: "Go back to your terminal: it asks for the code from your authenticator app."})
		return
	}
	s.render(w, r, http.StatusOK, pageData{Title: "Signed in", Text: "Signed in. You can close this tab and go back to your terminal."})
}

var crossOrigin = http.NewCrossOriginProtection()

// formCheck reads the one field a check's form has. The body is bounded
// to what it needs, and a check longer than checkMax is refused as it
// stands; bad says why, for the page, when it cannot be used.
func formCheck(w http.ResponseWriter, r *http.Request) (check, bad string) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		return "", "The form could not be read. Open the link again and retry."
	}
	check = r.PostForm.Get("check")
	if len(check) > checkMax {
		return "", "That is longer than the characters the terminal shows. Go back and type just those."
	}
	return check, ""
}

// sameOrigin refuses a POST that a browser sent from another site's page.
// net/http's CrossOriginProtection judges Sec-Fetch-Site (and Origin when
// Sec-Fetch-Site is absent); on top of it, an Origin header, whenever
// present, must name this host.
func sameOrigin(r *http.Request) error {
	if err := crossOrigin.Check(r); err != nil {
		return err
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
			return errCrossOrigin
		}
	}
	return nil
}
