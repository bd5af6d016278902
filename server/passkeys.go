package server

import (
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/issuer"
)

// passkeyCookie names the WebAuthn ceremony under way in the browser (with
// [hostPrefix] on an https issuer): a random value whose hash finds the
// ceremony's challenge in the store. It lives as long as the ceremony,
// HttpOnly and SameSite=Strict.
const passkeyCookie = "keyward_passkey"

// csrfHeader carries the CSRF token of the page to the passkey endpoints,
// which take JSON: a page of another site can neither read the token nor
// send the header without a CORS preflight, which the issuer never grants.
const csrfHeader = "X-CSRF-Token"

// The passkey routes.
const (
	passkeyScriptPath  = "/passkeys.js"
	passkeyLoginBegin  = "/passkeys/login/begin"
	passkeyLoginFinish = "/passkeys/login/finish"
	accountPasskeys    = "/account/passkeys"
	passkeyRegBegin    = "/account/passkeys/register/begin"
	passkeyRegFinish   = "/account/passkeys/register/finish"
	passkeyRename      = "/account/passkeys/rename"
	passkeyRemove      = "/account/passkeys/remove"
)

// passkeyScript is the browser side of the ceremonies: the only script
// the issuer's pages load, from its own origin (script-src 'self').
//
//go:embed static/passkeys.js
var passkeyScript []byte

// passkeyCSP is what the pages' Content-Security-Policy adds when passkeys
// are on: the issuer's own script, and its fetches to the issuer, and
// nothing else.
const passkeyCSP = "; script-src 'self'; connect-src 'self'"

// passkeyPages holds the template of the passkey management page.
type passkeyPages struct {
	account *template.Template
}

func loadPasskeyPages() (*passkeyPages, error) {
	t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/account_passkeys.html")
	if err != nil {
		return nil, err
	}
	return &passkeyPages{account: t.Lookup("account_passkeys.html")}, nil
}

// passkeyRoutes registers the passkey endpoints when passkeys are on.
func (s *Server) passkeyRoutes() error {
	if s.cfg.Passkeys == nil {
		return nil
	}
	var err error
	if s.passkeyPages, err = loadPasskeyPages(); err != nil {
		return err
	}
	s.pages.csp += passkeyCSP
	s.route("GET "+passkeyScriptPath, s.passkeyScript)
	s.route("POST "+passkeyLoginBegin, s.passkeyLoginBegin)
	s.route("POST "+passkeyLoginFinish, s.passkeyLoginFinish)
	s.route("GET "+accountPasskeys, s.accountPasskeys)
	s.route("POST "+passkeyRegBegin, s.passkeyRegisterBegin)
	s.route("POST "+passkeyRegFinish, s.passkeyRegisterFinish)
	s.route("POST "+passkeyRename, s.passkeyRename)
	s.route("POST "+passkeyRemove, s.passkeyRemove)
	for path, allow := range map[string]string{
		passkeyScriptPath: "GET, HEAD", accountPasskeys: "GET, HEAD",
		passkeyLoginBegin: "POST", passkeyLoginFinish: "POST", passkeyRegBegin: "POST", passkeyRegFinish: "POST",
		passkeyRename: "POST", passkeyRemove: "POST",
	} {
		s.route(path, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errMethod
		})
	}
	return nil
}

// passkeyScript handles GET /passkeys.js.
func (s *Server) passkeyScript(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(passkeyScript)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(passkeyScript)
	}
	return nil
}

// errPasskeyCSRF refuses a passkey request without the page's CSRF token.
var errPasskeyCSRF = &issuer.Error{Code: issuer.CodeInvalidRequest, Description: "the page expired or was not sent from this site; reload it"}

// errSignedOut refuses an account request without an active session.
var errSignedOut = &issuer.Error{Code: "login_required", Description: "sign in first"}

// passkeyJSON reads the JSON body of a passkey request after checking its
// CSRF header.
func (s *Server) passkeyJSON(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if !s.validCSRF(r, r.Header.Get(csrfHeader)) {
		return nil, errPasskeyCSRF
	}
	mt, body, err := s.readBody(w, r, true)
	if err != nil {
		return nil, err
	}
	if mt != mediaJSON {
		return nil, errNotJSONOrForm
	}
	return body, nil
}

// setPasskeyCookie sets the cookie naming a ceremony, for as long as it
// can complete.
func (s *Server) setPasskeyCookie(w http.ResponseWriter, value string) {
	s.setCookie(w, passkeyCookie, value, int(s.cfg.Passkeys.CeremonyTTL()/time.Second), http.SameSiteStrictMode)
}

// takePasskeyCookie returns the ceremony cookie's value and deletes the
// cookie: a ceremony is answered once.
func (s *Server) takePasskeyCookie(w http.ResponseWriter, r *http.Request) string {
	c, err := s.cookie(r, passkeyCookie)
	if err != nil {
		return ""
	}
	s.setCookie(w, passkeyCookie, "", -1, http.SameSiteStrictMode)
	return c.Value
}

// writeOptions answers a ceremony's options.
func writeOptions(w http.ResponseWriter, options []byte) {
	h := w.Header()
	h.Set("Content-Type", mediaJSON)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(options)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(options)
}

// passkeyLoginBegin handles POST /passkeys/login/begin: the options of a
// sign-in with a passkey alone, for the login page's button or its
// username field's autofill (conditional mediation).
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.passkeyJSON(w, r); err != nil {
		return err
	}
	options, ceremony, err := s.cfg.Passkeys.BeginLogin(r.Context(), "")
	if err != nil {
		return err
	}
	s.setPasskeyCookie(w, ceremony)
	writeOptions(w, options)
	return nil
}

// passkeyLoginFinish handles POST /passkeys/login/finish: the browser's
// assertion. On success the browser holds a session cookie, as after a
// password on the login form, and goes on with the authorization request
// it came with.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	body, err := s.passkeyJSON(w, r)
	if err != nil {
		return err
	}
	ceremony := s.takePasskeyCookie(w, r)
	current := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		current = c.Value
	}
	cookie, _, l, err := s.cfg.Passkeys.SignIn(r.Context(), issuer.PasskeyLoginRequest{
		Ceremony: ceremony, Response: body, RemoteAddr: clientAddr(r, s.cfg.TrustedProxies),
	}, current)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, cookie, int(issuer.SessionTTL.Seconds()), http.SameSiteLaxMode)
	s.setKnownBrowser(w, r, l.User.Username)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed_in"})
	return nil
}

// accountSession returns the active session of the browser, or
// [issuer.ErrNoSession].
func (s *Server) accountSession(r *http.Request) (keyward.Session, error) {
	c, err := s.cookie(r, sessionCookie)
	if err != nil {
		return keyward.Session{}, issuer.ErrNoSession
	}
	return s.iss.Session(r.Context(), c.Value)
}

// passkeyRow is one passkey on the management page.
type passkeyRow struct {
	ID, Name, Kind, Created, LastUsed string
}

// passkeysPage is the data of account_passkeys.html.
type passkeysPage struct {
	Title    string
	CSS      template.CSS
	CSRF     string
	Passkeys []passkeyRow
	Error    string
	Notice   string
	RPID     string
}

// accountPasskeys handles GET /account/passkeys: the user's passkeys, to
// rename and remove, and the button that registers one.
func (s *Server) accountPasskeys(w http.ResponseWriter, r *http.Request) error {
	return s.unavailablePage(w, r, s.renderPasskeys(w, r, http.StatusOK, "", passkeyNotice(r.URL.Query().Get("done"))))
}

// passkeyNotice is the sentence the page shows after an action.
func passkeyNotice(done string) string {
	switch done {
	case "registered":
		return "Your passkey is registered. You can now sign in with it."
	case "renamed":
		return "The passkey was renamed."
	case "removed":
		return "The passkey was removed."
	}
	return ""
}

// renderPasskeys renders the management page with an error or a notice.
func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, code int, problem, notice string) error {
	sess, err := s.accountSession(r)
	switch {
	case errors.Is(err, issuer.ErrNoSession):
		s.render(w, r, http.StatusUnauthorized, s.pages.message, messagePage{Title: "Sign in first", CSS: s.pages.css,
			Message: "Sign in to an application that uses this service, then come back to manage your passkeys."})
		return nil
	case err != nil:
		return err
	}
	pks, err := s.cfg.Passkeys.ListPasskeys(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	page := passkeysPage{Title: "Passkeys", CSS: s.pages.css, CSRF: s.csrfToken(w, r), Error: problem, Notice: notice, RPID: s.cfg.Passkeys.RPID()}
	for _, pk := range pks {
		row := passkeyRow{ID: base64.RawURLEncoding.EncodeToString(pk.ID), Name: pk.Name, Kind: "This device only",
			Created: pk.CreatedAt.UTC().Format("2 Jan 2006"), LastUsed: "never"}
		if pk.BackupEligible {
			row.Kind = "Synced"
		}
		if !pk.LastUsedAt.IsZero() {
			row.LastUsed = pk.LastUsedAt.UTC().Format("2 Jan 2006 15:04 MST")
		}
		page.Passkeys = append(page.Passkeys, row)
	}
	s.render(w, r, code, s.passkeyPages.account, page)
	return nil
}

// registerRequest is the JSON body of POST /account/passkeys/register/finish.
type registerRequest struct {
	Name       string         `json:"name"`
	Credential jsontext.Value `json:"credential"`
}

// passkeyRegisterBegin handles POST /account/passkeys/register/begin.
func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.passkeyJSON(w, r); err != nil {
		return err
	}
	sess, err := s.accountSession(r)
	if errors.Is(err, issuer.ErrNoSession) {
		return errSignedOut
	}
	if err != nil {
		return err
	}
	options, ceremony, err := s.cfg.Passkeys.BeginRegistration(r.Context(), sess)
	if err != nil {
		return err
	}
	s.setPasskeyCookie(w, ceremony)
	writeOptions(w, options)
	return nil
}

// passkeyRegisterFinish handles POST /account/passkeys/register/finish:
// the browser's new credential and the name the user gave it.
func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	body, err := s.passkeyJSON(w, r)
	if err != nil {
		return err
	}
	var req registerRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Credential) == 0 {
		return invalidRequest(`malformed JSON body: want {"name":"...","credential":{...}}`)
	}
	sess, err := s.accountSession(r)
	if errors.Is(err, issuer.ErrNoSession) {
		return errSignedOut
	}
	if err != nil {
		return err
	}
	if _, err := s.cfg.Passkeys.FinishRegistration(r.Context(), sess, s.takePasskeyCookie(w, r), req.Name, req.Credential); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "registered"})
	return nil
}

// passkeyForm reads a posted management form: its CSRF token checked, the
// session active, the passkey's ID decoded. A problem is answered on the
// page and returned as handled.
func (s *Server) passkeyForm(w http.ResponseWriter, r *http.Request) (f form, sess keyward.Session, id []byte, handled bool, err error) {
	f, problem, cause, err := s.pageForm(w, r, "passkey")
	if err != nil {
		return nil, keyward.Session{}, nil, false, err
	}
	if problem == "" && !s.validCSRF(r, f["csrf_token"]) {
		problem, cause = "The form expired or was not sent from this site. Try again.", errors.New("csrf token missing or mismatched")
	}
	if problem == "" {
		if id, err = base64.RawURLEncoding.DecodeString(f["id"]); err != nil || len(id) == 0 || len(id) > keyward.MaxPasskeyIDLen {
			problem, cause = "No such passkey.", errors.New("malformed passkey id")
		}
	}
	if problem != "" {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request_failed",
			slog.String("request_id", httpx.RequestIDFrom(r.Context())), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("error", cause.Error()))
		return nil, keyward.Session{}, nil, true, s.renderPasskeys(w, r, http.StatusBadRequest, problem, "")
	}
	sess, err = s.accountSession(r)
	if errors.Is(err, issuer.ErrNoSession) {
		return nil, keyward.Session{}, nil, true, s.renderPasskeys(w, r, http.StatusUnauthorized, "", "")
	}
	return f, sess, id, false, err
}

// passkeyDone sends the browser back to the management page after an
// action (303: the page is then loaded with GET).
func passkeyDone(w http.ResponseWriter, r *http.Request, done string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, accountPasskeys+"?done="+done, http.StatusSeeOther)
}

// passkeyRename handles POST /account/passkeys/rename.
func (s *Server) passkeyRename(w http.ResponseWriter, r *http.Request) error {
	f, sess, id, handled, err := s.passkeyForm(w, r)
	if handled || err != nil {
		return s.unavailablePage(w, r, err)
	}
	err = s.cfg.Passkeys.RenamePasskey(r.Context(), sess.UserID, id, f["name"])
	var oe *issuer.Error
	switch {
	case errors.Is(err, issuer.ErrPasskeyNotFound):
		return s.unavailablePage(w, r, s.renderPasskeys(w, r, http.StatusNotFound, "No such passkey.", ""))
	case errors.As(err, &oe) && oe.Code == issuer.CodeInvalidRequest:
		return s.unavailablePage(w, r, s.renderPasskeys(w, r, http.StatusBadRequest, "A passkey name is at most "+
			strconv.Itoa(issuer.MaxPasskeyNameLen)+" characters of text.", ""))
	case err != nil:
		return s.unavailablePage(w, r, err)
	}
	passkeyDone(w, r, "renamed")
	return nil
}

// passkeyRemove handles POST /account/passkeys/remove, which needs a
// recent sign-in ([issuer.PasskeyRemovalMaxAge]).
func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request) error {
	_, sess, id, handled, err := s.passkeyForm(w, r)
	if handled || err != nil {
		return s.unavailablePage(w, r, err)
	}
	switch err := s.cfg.Passkeys.RemovePasskey(r.Context(), sess, id); {
	case errors.Is(err, issuer.ErrReauthenticate):
		return s.unavailablePage(w, r, s.renderPasskeys(w, r, http.StatusForbidden,
			"To remove a passkey, sign in again first: your last sign-in was more than "+
				strconv.Itoa(int(issuer.PasskeyRemovalMaxAge/time.Minute))+" minutes ago.", ""))
	case errors.Is(err, issuer.ErrPasskeyNotFound):
		return s.unavailablePage(w, r, s.renderPasskeys(w, r, http.StatusNotFound, "No such passkey.", ""))
	case err != nil:
		return s.unavailablePage(w, r, err)
	}
	passkeyDone(w, r, "removed")
	return nil
}
