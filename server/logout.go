package server

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/issuer"
)

// logoutParams are the parameters of an RP-initiated logout request
// (OpenID Connect RP-Initiated Logout 1.0 §2) carried through the
// confirmation form. id_token_hint is not: once the user confirms, the
// logout no longer depends on it. ui_locales is accepted and ignored.
var logoutParams = []string{"client_id", "post_logout_redirect_uri", "state"}

// logoutPage is the data of logout.html, the confirmation page.
type logoutPage struct {
	Title      string
	CSS        template.CSS
	ClientName string
	Action     string
	Hidden     []hiddenField
}

// logout handles GET and POST /logout, the end_session_endpoint of OpenID
// Connect RP-Initiated Logout 1.0. The session ends without a question only
// for a request whose id_token_hint is an ID token of this issuer for the
// browser's session (its sid, else its user): anyone else, a cross-site
// link or form among them, gets a confirmation page, and only its POST,
// carrying the CSRF token of the login form, ends the session. Ending it
// revokes the session and every refresh token issued in it. The browser
// then goes to post_logout_redirect_uri with state, when the client
// (client_id, or the hint's) registered that URI exactly, else sees a
// signed-out page; an unregistered URI gets an error page, never a
// redirect. While the store is unreachable it answers a 503 page with
// Retry-After and the session goes on.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	return s.unavailablePage(w, r, s.logoutFlow(w, r))
}

// logoutFlow is [Server.logout] but for the unavailable store.
func (s *Server) logoutFlow(w http.ResponseWriter, r *http.Request) error {
	f, problem, cause, err := s.pageForm(w, r, "sign-out")
	if err != nil {
		return err
	}
	if problem != "" {
		s.logoutError(w, r, http.StatusBadRequest, problem, cause)
		return nil
	}
	confirmed := r.Method == http.MethodPost && f["csrf_token"] != ""
	if confirmed && !s.validCSRF(r, f["csrf_token"]) {
		s.logoutError(w, r, http.StatusForbidden, "The sign-out form expired or was not sent from this site. You are still signed in.",
			errors.New("csrf token missing or mismatched"))
		return nil
	}
	var hint *issuer.LogoutHint
	if v := f["id_token_hint"]; v != "" && !confirmed {
		h, err := s.iss.VerifyIDTokenHint(v)
		if err != nil {
			// Not a hint this issuer can trust: the user is asked.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "logout_hint_refused",
				slog.String("request_id", httpx.RequestIDFrom(r.Context())), slog.String("error", err.Error()))
		} else {
			hint = &h
		}
	}
	clientID := f["client_id"]
	if hint != nil {
		switch {
		case clientID == "":
			clientID = hint.ClientID()
		case !hint.IssuedTo(clientID):
			s.logoutError(w, r, http.StatusBadRequest, "The application that sent you here gave an ID token issued to another application.",
				errors.New("client_id is not an audience of id_token_hint"))
			return nil
		}
	}
	redirectURI := f["post_logout_redirect_uri"]
	clientName := ""
	if clientID != "" || redirectURI != "" {
		c, err := s.iss.LogoutClient(r.Context(), clientID, redirectURI)
		switch {
		case errors.Is(err, issuer.ErrUnknownClient):
			s.logoutError(w, r, http.StatusBadRequest, "The application that sent you here is not registered.", err)
			return nil
		case errors.Is(err, issuer.ErrPostLogoutRedirectURI):
			s.logoutError(w, r, http.StatusBadRequest, "The application that sent you here gave an address to return to that it has not registered.", err)
			return nil
		case err != nil:
			return err
		}
		clientID, clientName = c.ID, c.Name
		if clientName == "" {
			clientName = c.ID
		}
	}
	cookie := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		cookie = c.Value
	}
	sess, err := s.iss.Session(r.Context(), cookie)
	switch {
	case errors.Is(err, issuer.ErrNoSession):
		// Nothing to end (an ended session's refresh tokens were revoked
		// with it): the browser is signed out already.
		return s.signedOut(w, r, cookie, f["state"], redirectURI)
	case err != nil:
		return err
	}
	// A HEAD request (a link checker, a prefetch) never ends a session.
	if confirmed || hint != nil && hint.Matches(sess) && r.Method != http.MethodHead {
		by := "id_token_hint"
		if confirmed {
			by = "confirmation"
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "logout_accepted",
			slog.String("request_id", httpx.RequestIDFrom(r.Context())), slog.String("client_id", clientID), slog.String("by", by))
		return s.signedOut(w, r, cookie, f["state"], redirectURI)
	}
	page := logoutPage{Title: "Sign out", CSS: s.pages.css, ClientName: clientName, Action: "/logout"}
	for _, name := range logoutParams {
		v := f[name]
		if name == "client_id" {
			v = clientID
		}
		if v != "" {
			page.Hidden = append(page.Hidden, hiddenField{name, v})
		}
	}
	page.Hidden = append(page.Hidden, hiddenField{"csrf_token", s.csrfToken(w, r)})
	s.render(w, r, http.StatusOK, s.pages.logout, page)
	return nil
}

// signedOut ends the session held in the cookie value, if any, clears the
// session cookie and sends the browser to redirectURI, already checked
// against the client's registered URIs, with state; without a redirectURI
// it shows the signed-out page.
func (s *Server) signedOut(w http.ResponseWriter, r *http.Request, cookie, state, redirectURI string) error {
	if cookie != "" {
		if err := s.iss.EndSession(r.Context(), cookie); err != nil {
			return err
		}
		s.setCookie(w, sessionCookie, "", -1, http.SameSiteLaxMode)
	}
	if redirectURI == "" {
		s.render(w, r, http.StatusOK, s.pages.message, messagePage{Title: "Signed out", CSS: s.pages.css, Message: "You are signed out."})
		return nil
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return err
	}
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusFound
	if r.Method == http.MethodPost {
		code = http.StatusSeeOther
	}
	http.Redirect(w, r, u.String(), code)
	return nil
}

// logoutError answers a logout request that cannot be redirected with an
// error page; the session goes on.
func (s *Server) logoutError(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request_failed",
		slog.String("request_id", httpx.RequestIDFrom(r.Context())),
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", code), slog.String("error", err.Error()))
	s.render(w, r, code, s.pages.message, messagePage{Title: "Sign-out error", CSS: s.pages.css, Message: msg})
}
