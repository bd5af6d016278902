package server

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keyward/keyward"
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
	passkeyFactorBegin = "/passkeys/factor/begin"
	passkeyFactorEnd   = "/passkeys/factor/finish"
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
	t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/passkeys.html")
	if err != nil {
		return nil, err
	}
	return &passkeyPages{account: t.Lookup("passkeys.html")}, nil
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
	s.account.enrolCSP += passkeyCSP
	s.route("GET "+passkeyScriptPath, s.passkeyScript)
	s.route("POST "+passkeyLoginBegin, s.passkeyLoginBegin)
	s.route("POST "+passkeyLoginFinish, s.passkeyLoginFinish)
	s.route("POST "+passkeyFactorBegin, s.passkeyFactorBegin)
	s.route("POST "+passkeyFactorEnd, s.passkeyFactorFinish)
	s.accountRoute("GET "+accountPasskeys, 0, s.accountPasskeys)
	s.route("POST "+passkeyRegBegin, s.passkeyRegisterBegin)
	s.route("POST "+passkeyRegFinish, s.passkeyRegisterFinish)
	s.accountRoute("POST "+passkeyRename, 0, s.passkeyRename)
	s.accountRoute("POST "+passkeyRemove, 0, s.passkeyRemove)
	for path, allow := range map[string]string{
		passkeyScriptPath: "GET, HEAD", accountPasskeys: "GET, HEAD",
		passkeyLoginBegin: "POST", passkeyLoginFinish: "POST", passkeyRegBegin: "POST", passkeyRegFinish: "POST",
		passkeyFactorBegin: "POST", passkeyFactorEnd: "POST",
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

// errSignedOut refuses an account request without an active session, or
// with one that still lacks its second factor.
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
		Ceremony: ceremony, Response: body, RemoteAddr: clientAddr(r, s.cfg.TrustedProxies), UserAgent: r.UserAgent(),
	}, current)
	if err != nil {
		return err
	}
	s.signedIn(w, r, cookie, l.User.Username)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed_in"})
	return nil
}

// passkeySession returns the browser's active session and what it lacks
// ([issuer.Issuer.Requirement]), or an error wrapping
// [issuer.ErrNoSession].
func (s *Server) passkeySession(r *http.Request) (keyward.Session, issuer.Need, error) {
	cookie := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		cookie = c.Value
	}
	sess, err := s.iss.Session(r.Context(), cookie)
	if err != nil {
		return keyward.Session{}, 0, err
	}
	need, err := s.iss.Requirement(r.Context(), sess, "")
	return sess, need, err
}

// passkeyFactorBegin handles POST /passkeys/factor/begin: the options of
// the passkey that confirms a password, for the second-factor form.
func (s *Server) passkeyFactorBegin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.passkeyJSON(w, r); err != nil {
		return err
	}
	sess, _, err := s.passkeySession(r)
	if errors.Is(err, issuer.ErrNoSession) {
		return errSignedOut
	}
	if err != nil {
		return err
	}
	options, ceremony, err := s.cfg.Passkeys.BeginLogin(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	s.setPasskeyCookie(w, ceremony)
	writeOptions(w, options)
	return nil
}

// passkeyFactorFinish handles POST /passkeys/factor/finish: the assertion
// of the second factor, which joins the session's amr. The browser then
// goes on with the request the second-factor form was for.
func (s *Server) passkeyFactorFinish(w http.ResponseWriter, r *http.Request) error {
	body, err := s.passkeyJSON(w, r)
	if err != nil {
		return err
	}
	ceremony := s.takePasskeyCookie(w, r)
	sess, _, err := s.passkeySession(r)
	if errors.Is(err, issuer.ErrNoSession) {
		return errSignedOut
	}
	if err != nil {
		return err
	}
	if _, err := s.cfg.Passkeys.VerifySecondFactor(r.Context(), sess, issuer.PasskeyLoginRequest{
		Ceremony: ceremony, Response: body, RemoteAddr: clientAddr(r, s.cfg.TrustedProxies), UserAgent: r.UserAgent(),
	}); err != nil {
		return err
	}
	if err := s.factorAdded(w, r); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "verified"})
	return nil
}

// passkeyRow is one passkey on the management page.
type passkeyRow struct {
	ID, Name, Kind, Created, LastUsed string
}

// passkeysPage is the data of passkeys.html.
type passkeysPage struct {
	Title    string
	CSS      template.CSS
	CSRF     string
	Passkeys []passkeyRow
	Error    string
	Notice   string
	RPID     string
}

// passkeysSection is the data of the account page's passkeys section.
func (s *Server) passkeysSection(ctx context.Context, v *accountView) (any, error) {
	return struct{ Count int }{v.Factors.Passkeys}, nil
}

// accountPasskeys handles GET /account/passkeys: the user's passkeys, to
// rename and remove, and the button that registers one.
func (s *Server) accountPasskeys(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	return s.renderPasskeys(w, r, v, http.StatusOK, "", passkeyNotice(f["done"]))
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
func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, v *accountView, code int, problem, notice string) error {
	pks, err := s.cfg.Passkeys.ListPasskeys(r.Context(), v.User.ID)
	if err != nil {
		return err
	}
	page := passkeysPage{Title: "Passkeys", CSS: s.pages.css, CSRF: v.CSRF, Error: problem, Notice: notice, RPID: s.cfg.Passkeys.RPID()}
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

// registrationSession returns the session that may register a passkey:
// active, and lacking nothing, so that a session still owing its second
// factor cannot register one to stand in for it; or one that must enrol
// a first second factor ([issuer.NeedEnrolment]: the user holds none to
// stand in for), which a passkey then is. Such a session may register and
// nothing else: it cannot list, rename or remove passkeys.
func (s *Server) registrationSession(r *http.Request) (keyward.Session, error) {
	sess, need, err := s.passkeySession(r)
	switch {
	case errors.Is(err, issuer.ErrNoSession):
		return keyward.Session{}, errSignedOut
	case err != nil:
		return keyward.Session{}, err
	case need != issuer.NeedNothing && need != issuer.NeedEnrolment:
		return keyward.Session{}, errSignedOut
	}
	return sess, nil
}

// passkeyRegisterBegin handles POST /account/passkeys/register/begin.
func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.passkeyJSON(w, r); err != nil {
		return err
	}
	sess, err := s.registrationSession(r)
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
	sess, err := s.registrationSession(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Passkeys.FinishRegistration(r.Context(), sess, s.takePasskeyCookie(w, r), req.Name, req.Credential); err != nil {
		return err
	}
	if err := s.factorAdded(w, r); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "registered"})
	return nil
}

// passkeyID decodes the id field of a management form.
func passkeyID(f form) ([]byte, bool) {
	id, err := base64.RawURLEncoding.DecodeString(f["id"])
	return id, err == nil && len(id) > 0 && len(id) <= keyward.MaxPasskeyIDLen
}

// passkeyDone sends the browser back to the management page after an
// action (303: the page is then loaded with GET).
func passkeyDone(w http.ResponseWriter, r *http.Request, done string) error {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, accountPasskeys+"?done="+done, http.StatusSeeOther)
	return nil
}

// passkeyRename handles POST /account/passkeys/rename.
func (s *Server) passkeyRename(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	id, ok := passkeyID(f)
	if !ok {
		return s.renderPasskeys(w, r, v, http.StatusNotFound, "No such passkey.", "")
	}
	err := s.cfg.Passkeys.RenamePasskey(r.Context(), v.User.ID, id, f["name"])
	var oe *issuer.Error
	switch {
	case errors.Is(err, issuer.ErrPasskeyNotFound):
		return s.renderPasskeys(w, r, v, http.StatusNotFound, "No such passkey.", "")
	case errors.As(err, &oe) && oe.Code == issuer.CodeInvalidRequest:
		return s.renderPasskeys(w, r, v, http.StatusBadRequest, "A passkey name is at most "+
			strconv.Itoa(issuer.MaxPasskeyNameLen)+" characters of text.", "")
	case err != nil:
		return err
	}
	return passkeyDone(w, r, "renamed")
}

// passkeyRemove handles POST /account/passkeys/remove, which needs a
// recent sign-in ([issuer.PasskeyRemovalMaxAge]).
func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	id, ok := passkeyID(f)
	if !ok {
		return s.renderPasskeys(w, r, v, http.StatusNotFound, "No such passkey.", "")
	}
	switch err := s.cfg.Passkeys.RemovePasskey(r.Context(), v.Session, id); {
	case errors.Is(err, issuer.ErrReauthenticate):
		return s.renderPasskeys(w, r, v, http.StatusForbidden,
			"To remove a passkey, sign out and sign in again first: your last sign-in was more than "+
				strconv.Itoa(int(issuer.PasskeyRemovalMaxAge/time.Minute))+" minutes ago.", "")
	case errors.Is(err, issuer.ErrPasskeyNotFound):
		return s.renderPasskeys(w, r, v, http.StatusNotFound, "No such passkey.", "")
	case err != nil:
		return err
	}
	return passkeyDone(w, r, "removed")
}
