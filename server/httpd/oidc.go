package httpd

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"
)

// Sign-in with an OpenID Provider through the code flow. The terminal
// shows a short link, /oidc/start/{state}, and a label for the session;
// its page repeats the label and links on to the provider. (Unlike a
// magic link's characters, the label cannot stop phishing: whoever sends
// the start link holds the label too. See the README.) The
// provider sends the browser back to /oidc/callback with the state and a
// code, and the waiting terminal moves on. Opening the start page changes
// nothing; a callback that is late, replayed or not this server's changes
// nothing either, and says so.

// OIDCAttempt describes a code-flow attempt for its pages.
type OIDCAttempt struct {
	Label    string // names the waiting terminal session
	Provider string // the provider's display name
	Purpose  string // "signin", "link" or "stepup"
	State    LinkState
	// AuthURL is the provider's authorization URL (start page, LinkLive).
	AuthURL string
	Expires time.Time
}

// OIDC is the flows' side of the code flow.
type OIDC interface {
	// Peek describes the attempt of a state, with AuthURL when live.
	Peek(ctx context.Context, state string) (OIDCAttempt, error)
	// Callback finishes the attempt: State LinkLive when this call did;
	// any other state says why nothing happened. A *Refusal is a reason
	// for the person (they said no at the provider, the tokens did not
	// verify, their email is another account's).
	Callback(ctx context.Context, state, code, errCode, errDesc string) (OIDCAttempt, error)
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
{{if .AuthURL -}}
<p class="note">Go on only if your terminal shows <strong>{{.Label}}</strong> and you asked there to {{.What}}.</p>
<p><a id="continue" href="{{.AuthURL}}">Continue to {{.Provider}}</a></p>
{{- else -}}
<p>{{.Text}}</p>
{{- end}}
</main>
</body>
</html>
`))

type oidcPageData struct {
	Title, Text, Label, Provider, What, AuthURL string
}

func purposeWords(purpose string) string {
	switch purpose {
	case "link":
		return "link this provider to your account"
	case "stepup":
		return "confirm it is you"
	}
	return "sign in"
}

func (s *site) renderOIDC(w http.ResponseWriter, r *http.Request, status int, d oidcPageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := oidcPage.Execute(w, d); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "render page", slog.String("error", err.Error()))
	}
}

// oidcStateText says plainly why an attempt's page does nothing.
func oidcStateText(a OIDCAttempt) (int, string, string) {
	switch a.State {
	case LinkUsed:
		return http.StatusGone, "Already used", "This sign-in has already finished; opening it again changes nothing."
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

// oidcStart is the short link's page: it names the terminal session and
// links on to the provider. A GET changes nothing.
func (s *site) oidcStart(w http.ResponseWriter, r *http.Request) {
	state := r.PathValue("state")
	if !ValidToken(state) {
		s.renderOIDC(w, r, http.StatusNotFound, oidcPageData{Title: "Not valid", Text: "This is not a sign-in this server started; nothing changed."})
		return
	}
	a, err := s.oidc.Peek(r.Context(), state)
	if err != nil {
		s.oidcFail(w, r, "peek oidc attempt", err)
		return
	}
	if a.State != LinkLive || a.AuthURL == "" {
		status, title, text := oidcStateText(a)
		s.renderOIDC(w, r, status, oidcPageData{Title: title, Text: text})
		return
	}
	s.renderOIDC(w, r, http.StatusOK, oidcPageData{Title: "Continue with " + a.Provider + " for the terminal session labelled " + a.Label + "?",
		Label: a.Label, Provider: a.Provider, What: purposeWords(a.Purpose), AuthURL: a.AuthURL})
}

// oidcCallback is where the provider sends the browser back.
func (s *site) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if !ValidToken(state) {
		s.renderOIDC(w, r, http.StatusNotFound, oidcPageData{Title: "Not valid", Text: "This is not a sign-in this server started; nothing changed."})
		return
	}
	a, err := s.oidc.Callback(r.Context(), state, q.Get("code"), q.Get("error"), q.Get("error_description"))
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
