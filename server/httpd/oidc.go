package httpd

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Sign-in with an OpenID Provider through the code flow. The terminal
// shows a short link, /oidc/start/{state}, and LinkCheckLen characters,
// as for a magic link. Opening the link (GET) changes nothing: its page
// asks for the characters. The right ones (POST) send the browser on to
// the provider (303) with a cookie that binds the attempt to this browser;
// a wrong answer ends the attempt, a malformed one asks again. The
// provider sends the browser back to /oidc/callback with the state and a
// code, and the callback refuses (and ends) an attempt whose browser lacks
// the cookie; else the waiting terminal moves on. So someone who starts a
// sign-in in their own terminal and sends a victim the start link (or the
// provider URL the page sent them on to) signs nobody in: the characters
// are on their terminal alone, the cookie in their browser alone. What
// this cannot stop is a victim who types characters someone gives them
// (the page warns against it), nor the device grant, whose code is typed
// at the provider's own page. A callback that is late, replayed or not
// this server's changes nothing, and says so.

// OIDCCookie begins the name of the cookie that binds a code-flow attempt
// to the browser its check was typed in (OIDCCookieName). Its value is a
// MAC of the state (nothing is stored); the path keeps it to /oidc/.
const OIDCCookie = "attest_oidc_"

// OIDCCookieName is the binding cookie's name for one attempt: the prefix
// and the state's first 8 characters (40 random bits), so that two
// sign-ins under way in one browser each keep their own.
func OIDCCookieName(state string) string { return OIDCCookie + state[:8] }

// OIDCAttempt describes a code-flow attempt for its pages.
type OIDCAttempt struct {
	Provider string // the provider's display name
	Purpose  string // "signin", "link" or "stepup"
	State    LinkState
	// CheckLen is how many characters the start page asks for.
	CheckLen int
	// AuthOrigin is the origin of the provider's authorization endpoint
	// (LinkLive): the start page's form may be sent on there (CSP
	// form-action, which browsers apply to the POST's redirect too).
	AuthOrigin string
	Expires    time.Time

	// From Confirm with the right check: the provider's authorization
	// URL, and the binding to set as OIDCCookie for BindFor.
	AuthURL string
	Binding string
	BindFor time.Duration
	// Mistyped: from Confirm, with a Refusal, when the check had not the
	// form of one; nothing changed and the page asks again.
	Mistyped bool
}

// OIDC is the flows' side of the code flow.
type OIDC interface {
	// Peek describes the attempt of a state; it changes nothing.
	Peek(ctx context.Context, state string) (OIDCAttempt, error)
	// Confirm answers the start page's check: with the right one, AuthURL
	// and Binding; a wrong one ends the attempt (LinkEnded).
	Confirm(ctx context.Context, state, check string) (OIDCAttempt, error)
	// Callback finishes the attempt, for the browser whose OIDCCookie is
	// binding ("" when it has none): State LinkLive when this call did;
	// any other state says why nothing happened. A *Refusal is a reason
	// for the person (another browser, they said no at the provider, the
	// tokens did not verify, their email is another account's).
	Callback(ctx context.Context, state, binding, code, errCode, errDesc string) (OIDCAttempt, error)
}

var oidcPage = template.Must(template.New("oidc").Parse(`<!doctype html>
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
<h1>{{.Title}}</h1>
{{if .Ask -}}
{{if .Text}}<p>{{.Text}}</p>
{{end -}}
<p>Type the {{.CheckLen}} characters that the terminal where you started this shows, then press the button to go on to {{.Provider}}.</p>
<p class="note">They prove that the person signing in at {{.Provider}} is the person at that terminal: whoever started this sign-in is signed in by it, and someone who sent you this link would be signed in to your account, not you. So never type characters that someone else tells you or sends you, whoever they say they are; if you did not start this in a terminal yourself, close this page. A wrong answer ends this sign-in.</p>
<form method="post"><p><label for="check">Characters from your terminal</label><br>
<input id="check" name="check" required autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="{{.CheckMax}}" size="8"></p>
<button type="submit">Continue to {{.Provider}}</button></form>
{{- else -}}
<p>{{.Text}}</p>
{{- end}}
</main>
</body>
</html>
`))

type oidcPageData struct {
	Title, Text, Provider string
	Ask                   bool // the question: the check, and the button
	CheckLen, CheckMax    int
}

func purposeTitle(a OIDCAttempt) string {
	switch a.Purpose {
	case "link":
		return "Link " + a.Provider + " to your attest account?"
	case "stepup":
		return "Confirm it is you with " + a.Provider + "?"
	}
	return "Sign in your terminal with " + a.Provider + "?"
}

func (s *site) renderOIDC(w http.ResponseWriter, r *http.Request, status int, d oidcPageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := oidcPage.Execute(w, d); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "render page", slog.String("error", err.Error()))
	}
}

// renderAsk is a live attempt's question. Its form posts here and is sent
// on to the provider, so the page's CSP allows that origin as a form
// action as well as its own; nothing else changes in it.
func (s *site) renderAsk(w http.ResponseWriter, r *http.Request, status int, a OIDCAttempt, text string) {
	if a.AuthOrigin != "" {
		w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+a.AuthOrigin, 1))
	}
	s.renderOIDC(w, r, status, oidcPageData{Title: purposeTitle(a), Text: text, Provider: a.Provider, Ask: true,
		CheckLen: a.CheckLen, CheckMax: checkMax})
}

// oidcStateText says plainly why an attempt's page does nothing.
func oidcStateText(a OIDCAttempt) (int, string, string) {
	switch a.State {
	case LinkUsed:
		return http.StatusGone, "Already used", "This sign-in has already finished; opening it again changes nothing."
	case LinkEnded:
		return http.StatusGone, "Sign-in ended", "This sign-in has ended, and nobody was signed in by it. If you started it yourself, start again in the terminal."
	case LinkExpired:
		return http.StatusGone, "Expired", "This sign-in expired at " + a.Expires.UTC().Format("15:04") + " UTC and changes nothing now; start again in the terminal."
	case LinkSessionGone:
		return http.StatusGone, "Session ended", "The terminal session that started this sign-in has ended, so it changes nothing."
	default:
		return http.StatusNotFound, "Not valid", "This is not a sign-in this server started; nothing changed."
	}
}

func (s *site) oidcFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if ref, ok := errors.AsType[*Refusal](err); ok {
		s.renderOIDC(w, r, http.StatusConflict, oidcPageData{Title: "Not signed in", Text: ref.Message})
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelError, what, slog.String("error", err.Error()))
	s.renderOIDC(w, r, http.StatusInternalServerError, oidcPageData{Title: "Something went wrong",
		Text: "Something went wrong on our side. Try again in a moment, or start again in the terminal."})
}

func (s *site) oidcNotValid(w http.ResponseWriter, r *http.Request) {
	s.renderOIDC(w, r, http.StatusNotFound, oidcPageData{Title: "Not valid", Text: "This is not a sign-in this server started; nothing changed."})
}

// oidcStart is the short link's page: it asks for the characters the
// terminal shows. A GET changes nothing, and nothing on it leads on to
// the provider.
func (s *site) oidcStart(w http.ResponseWriter, r *http.Request) {
	state := r.PathValue("state")
	if !ValidToken(state) {
		s.oidcNotValid(w, r)
		return
	}
	a, err := s.oidc.Peek(r.Context(), state)
	if err != nil {
		s.oidcFail(w, r, "peek oidc attempt", err)
		return
	}
	if a.State != LinkLive {
		status, title, text := oidcStateText(a)
		s.renderOIDC(w, r, status, oidcPageData{Title: title, Text: text})
		return
	}
	s.renderAsk(w, r, http.StatusOK, a, "")
}

// oidcConfirm is the start page's button: the right characters send the
// browser on to the provider, bound to it by OIDCCookie.
func (s *site) oidcConfirm(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "refused oidc start", slog.String("error", err.Error()))
		s.renderOIDC(w, r, http.StatusForbidden, oidcPageData{Title: "Not signed in",
			Text: "This request did not come from the sign-in's own page. Open the link your terminal shows and type the characters there."})
		return
	}
	state := r.PathValue("state")
	if !ValidToken(state) {
		s.oidcNotValid(w, r)
		return
	}
	check, bad := formCheck(w, r)
	if bad != "" {
		s.renderOIDC(w, r, http.StatusBadRequest, oidcPageData{Title: "Not signed in", Text: bad})
		return
	}
	a, err := s.oidc.Confirm(r.Context(), state, check)
	if ref, ok := errors.AsType[*Refusal](err); ok && a.Mistyped && a.State == LinkLive {
		// A typing slip: nothing changed, so the question stands.
		s.renderAsk(w, r, http.StatusUnprocessableEntity, a, ref.Message)
		return
	}
	if err != nil {
		s.oidcFail(w, r, "confirm oidc attempt", err)
		return
	}
	if a.State != LinkLive || a.AuthURL == "" || a.Binding == "" {
		status, title, text := oidcStateText(a)
		s.renderOIDC(w, r, status, oidcPageData{Title: title, Text: text})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:  OIDCCookieName(state),
		Value: a.Binding,
		Path:  "/oidc/",
		// The attempt's remaining life, at least a second (0 would make
		// it a session cookie).
		MaxAge:   max(1, int((a.BindFor+time.Second-1)/time.Second)),
		HttpOnly: true,
		Secure:   s.secureCookies,
		// Lax: the provider's redirect back is a top-level GET from
		// another site, which must carry it; Strict would not.
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, a.AuthURL, http.StatusSeeOther)
}

// oidcCallback is where the provider sends the browser back.
func (s *site) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if !ValidToken(state) {
		s.oidcNotValid(w, r)
		return
	}
	binding := ""
	if c, err := r.Cookie(OIDCCookieName(state)); err == nil {
		binding = c.Value
	}
	a, err := s.oidc.Callback(r.Context(), state, binding, q.Get("code"), q.Get("error"), q.Get("error_description"))
	if err == nil && a.State == LinkLive {
		// The cookie was this attempt's, and has served. Any other
		// answer leaves it (it lapses with its attempt anyway).
		http.SetCookie(w, &http.Cookie{Name: OIDCCookieName(state), Path: "/oidc/", MaxAge: -1, HttpOnly: true,
			Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
	}
	if err != nil {
		s.oidcFail(w, r, "oidc callback", err)
		return
	}
	if a.State != LinkLive {
		status, title, text := oidcStateText(a)
		s.renderOIDC(w, r, status, oidcPageData{Title: title, Text: text})
		return
	}
	title := "Signed in"
	switch a.Purpose {
	case "link":
		title = a.Provider + " linked"
	case "stepup":
		title = "Confirmed"
	}
	s.renderOIDC(w, r, http.StatusOK, oidcPageData{Title: title, Text: "Done. You can close this tab and go back to your terminal."})
}
