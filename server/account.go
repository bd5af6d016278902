package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// The account page, GET /account, is where users manage their own
// account, behind the issuer session: where they are signed in, their
// second factors, their password. It is server-rendered and works without
// JavaScript; every POST carries the CSRF token of the login form
// (double-submit, [Server.validCSRF]) and every page is Cache-Control:
// no-store.
//
// The page is a list of sections ([Server.accountSections]). To add one
// (passkeys do): write templates/account_NAME.html defining the template
// "account_NAME" (every templates/account_*.html file is parsed with the
// page; its data is an [accountSectionData], whose CSRF goes in a hidden
// csrf_token field of each form), add an [accountSection] naming it to
// [Server.accountSections], and register the section's POST handlers under
// /account/NAME/... with [Server.accountRoute], which checks the CSRF token
// and the session before the handler runs.
//
// A session that lacks a second factor the user must present sees only
// the form for it; a user who must enrol one and has none sees only the
// enrolment: such a session can do nothing else here nor at /authorize.

// accountSection is one section of the account page.
type accountSection struct {
	// Template names the template that renders it, "account_NAME".
	Template string
	// Data returns the section's data for the signed-in user, rendered as
	// the Data of an [accountSectionData].
	Data func(ctx context.Context, v *accountView) (any, error)
}

// accountSections returns the sections of the account page, in order.
func (s *Server) accountSections() []accountSection {
	sections := []accountSection{
		{Template: "account_sessions", Data: s.sessionsSection},
		{Template: "account_totp", Data: s.totpSection},
		{Template: "account_recovery", Data: s.recoverySection},
		{Template: "account_password", Data: s.passwordSection},
	}
	if s.cfg.Passkeys != nil {
		sections = slices.Insert(sections, 1, accountSection{Template: "account_passkeys", Data: s.passkeysSection})
	}
	return sections
}

// accountView is what the account page and its handlers know of the
// signed-in user.
type accountView struct {
	Session keyward.Session
	User    keyward.User
	Factors issuer.Factors
	// CSRF is the browser's CSRF token, for the forms.
	CSRF string
}

// accountSectionData is the data of a section's template.
type accountSectionData struct {
	CSRF string
	Data any
}

// accountPage is the data of account.html.
type accountPage struct {
	Title    string
	CSS      template.CSS
	Username string
	Notice   string
	Error    string
	CSRF     string
	Sections []template.HTML
}

// accountPages holds the templates of the account page and of the second
// factor's pages.
type accountPages struct {
	account, mfa, enrol, codes *template.Template
	// sections renders the account_* templates.
	sections *template.Template
	// enrolCSP is the page CSP plus the data: image of the QR code.
	enrolCSP string
}

func loadAccountPages(p *pages) (*accountPages, error) {
	a := &accountPages{enrolCSP: p.csp + "; img-src data:"}
	var err error
	if a.account, err = template.ParseFS(templateFS, "templates/layout.html", "templates/account.html", "templates/account_*.html"); err != nil {
		return nil, err
	}
	a.sections, a.account = a.account, a.account.Lookup("account.html")
	for _, t := range []struct {
		dst  **template.Template
		file string
	}{{&a.mfa, "mfa.html"}, {&a.enrol, "mfa_enrol.html"}, {&a.codes, "mfa_codes.html"}} {
		tt, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+t.file)
		if err != nil {
			return nil, err
		}
		*t.dst = tt.Lookup(t.file)
	}
	return a, nil
}

// notices are the messages the account page shows after a POST, named in
// its done query parameter so that nothing a link carries is shown.
var notices = map[string]string{
	"session_ended":  "That browser is signed out.",
	"others_ended":   "You are signed out everywhere else.",
	"password":       "Your password is changed. You are signed out everywhere else.",
	"totp_removed":   "Your authenticator app is turned off.",
	"second_factor":  "You are signed in.",
	"totp_confirmed": "Your authenticator app is on.",
}

// accountRoutes registers the account page's routes.
func (s *Server) accountRoutes() {
	s.route("GET /account", s.accountHome)
	s.route("POST /account/login", s.accountLogin)
	s.accountRoute("POST /account/verify", restrictedFactor, s.accountVerify)
	s.accountRoute("GET /account/totp", restrictedEnrol, s.accountTOTP)
	s.accountRoute("POST /account/totp/confirm", restrictedEnrol, s.accountTOTPConfirm)
	s.accountRoute("POST /account/totp/remove", 0, s.accountTOTPRemove)
	s.accountRoute("POST /account/recovery", 0, s.accountRecovery)
	s.accountRoute("POST /account/password", 0, s.accountPassword)
	s.accountRoute("POST /account/sessions/end", 0, s.accountEndSession)
	s.accountRoute("POST /account/sessions/end-others", 0, s.accountEndOthers)
	s.accountRoute("POST /account/logout", restrictedFactor|restrictedEnrol, s.accountLogout)
}

// restriction says which restricted sessions may use a route: one that
// must present its second factor, one that must enrol one. A route with
// neither needs a session that lacks nothing.
type restriction int

const (
	restrictedFactor restriction = 1 << iota
	restrictedEnrol
)

// accountHandler handles an account route for the signed-in user; f is the
// request's form (or query).
type accountHandler func(w http.ResponseWriter, r *http.Request, v *accountView, f form) error

// accountRoute registers h at pattern behind the session and, for a POST,
// the CSRF check. A request without an active session gets the sign-in
// form; a restricted session ([issuer.Requirement]) that may not use the
// route gets the page it needs (the second-factor form or the enrolment).
func (s *Server) accountRoute(pattern string, allow restriction, h accountHandler) {
	s.route(pattern, func(w http.ResponseWriter, r *http.Request) error {
		return s.unavailablePage(w, r, s.accountDo(w, r, allow, h))
	})
}

func (s *Server) accountDo(w http.ResponseWriter, r *http.Request, allow restriction, h accountHandler) error {
	f, problem, cause, err := s.pageForm(w, r, "account")
	if err != nil {
		return err
	}
	if problem != "" {
		s.errorPage(w, r, http.StatusBadRequest, problem, cause)
		return nil
	}
	if r.Method == http.MethodPost && !s.validCSRF(r, f["csrf_token"]) {
		s.errorPage(w, r, http.StatusForbidden, "The form expired or was not sent from this site. Open your account page and try again.",
			errors.New("csrf token missing or mismatched"))
		return nil
	}
	v, need, err := s.accountSession(w, r)
	if err != nil || v == nil {
		return err
	}
	switch {
	case need == issuer.NeedFactor && allow&restrictedFactor == 0:
		return s.accountFactorPage(w, r, v, "", http.StatusOK)
	case need == issuer.NeedEnrolment && allow&restrictedEnrol == 0:
		return s.accountEnrolPage(w, r, v, "", http.StatusOK)
	}
	return h(w, r, v, f)
}

// accountSession returns the signed-in user's view and what the session
// lacks. Without an active session it answers with the sign-in form and
// returns a nil view.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*accountView, issuer.Need, error) {
	cookie := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		cookie = c.Value
	}
	sess, err := s.iss.Session(r.Context(), cookie)
	switch {
	case errors.Is(err, issuer.ErrNoSession):
		s.accountLoginPage(w, r, "", "", http.StatusOK)
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	v, need, err := s.accountViewOf(r.Context(), w, r, sess)
	if err != nil {
		return nil, 0, err
	}
	return v, need, nil
}

// accountViewOf loads the view of the session's user.
func (s *Server) accountViewOf(ctx context.Context, w http.ResponseWriter, r *http.Request, sess keyward.Session) (*accountView, issuer.Need, error) {
	u, err := s.iss.User(ctx, sess.UserID)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.iss.UserFactors(ctx, sess.UserID)
	if err != nil {
		return nil, 0, err
	}
	need, err := s.iss.Requirement(ctx, sess, "")
	if err != nil {
		return nil, 0, err
	}
	if need == issuer.NeedNothing {
		s.iss.TouchSession(ctx, sess)
	}
	return &accountView{Session: sess, User: u, Factors: f, CSRF: s.csrfToken(w, r)}, need, nil
}

// accountHome handles GET /account.
func (s *Server) accountHome(w http.ResponseWriter, r *http.Request) error {
	return s.unavailablePage(w, r, s.accountDo(w, r, 0, func(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
		return s.renderAccount(w, r, v, notices[f["done"]], "", http.StatusOK)
	}))
}

// renderAccount renders the account page with its sections.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, v *accountView, notice, problem string, code int) error {
	page := accountPage{Title: "Your account", CSS: s.pages.css, Username: v.User.Username, Notice: notice, Error: problem, CSRF: v.CSRF}
	for _, sec := range s.accountSections() {
		data, err := sec.Data(r.Context(), v)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := s.account.sections.ExecuteTemplate(&buf, sec.Template, accountSectionData{CSRF: v.CSRF, Data: data}); err != nil {
			return err
		}
		page.Sections = append(page.Sections, template.HTML(buf.String())) //nolint:gosec // rendered by html/template
	}
	s.render(w, r, code, s.account.account, page)
	return nil
}

// seeAccount sends the browser back to the account page after a POST,
// with a notice.
func seeAccount(w http.ResponseWriter, r *http.Request, done string) error {
	w.Header().Set("Cache-Control", "no-store")
	u := "/account"
	if done != "" {
		u += "?done=" + done
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
	return nil
}

// accountLoginPage shows the sign-in form of the account page.
func (s *Server) accountLoginPage(w http.ResponseWriter, r *http.Request, username, problem string, code int) {
	page := loginPage{Title: "Sign in", CSS: s.pages.css, ClientName: "your account", Action: "/account/login",
		Hidden: []hiddenField{{"csrf_token", s.csrfToken(w, r)}}, Username: username, Error: problem, Passkeys: s.cfg.Passkeys != nil}
	s.render(w, r, code, s.pages.login, page)
}

// accountLogin handles POST /account/login, the account page's password
// sign-in.
func (s *Server) accountLogin(w http.ResponseWriter, r *http.Request) error {
	return s.unavailablePage(w, r, s.accountLoginFlow(w, r))
}

func (s *Server) accountLoginFlow(w http.ResponseWriter, r *http.Request) error {
	f, problem, cause, err := s.pageForm(w, r, "sign-in")
	if err != nil {
		return err
	}
	if problem != "" {
		s.errorPage(w, r, http.StatusBadRequest, problem, cause)
		return nil
	}
	if !s.validCSRF(r, f["csrf_token"]) {
		s.errorPage(w, r, http.StatusForbidden, "The sign-in form expired or was not sent from this site. Open your account page and try again.",
			errors.New("csrf token missing or mismatched"))
		return nil
	}
	_, err = s.passwordSignIn(w, r, f["username"], f["password"])
	var oe *issuer.Error
	switch {
	case err == nil:
		return seeAccount(w, r, "")
	case errors.As(err, &oe) && oe.Code == issuer.CodeSlowDown:
		s.accountLoginPage(w, r, f["username"], "Too many sign-in attempts. Wait a minute and try again.", http.StatusTooManyRequests)
		return nil
	case errors.As(err, &oe) && (oe.Code == issuer.CodeInvalidGrant || oe.Code == issuer.CodeInvalidRequest):
		s.accountLoginPage(w, r, f["username"], "Invalid username or password.", http.StatusUnauthorized)
		return nil
	}
	return err
}

// passwordSignIn signs the browser in with a username and password
// ([issuer.Issuer.SignIn]) and sets its cookies ([Server.signedIn]).
func (s *Server) passwordSignIn(w http.ResponseWriter, r *http.Request, username, password string) (keyward.Session, error) {
	current := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		current = c.Value
	}
	cookie, sess, err := s.iss.SignIn(r.Context(), issuer.LoginRequest{
		Username: username, Password: password, RemoteAddr: clientAddr(r, s.cfg.TrustedProxies),
		KnownBrowser: s.knownBrowser(r), UserAgent: r.UserAgent(),
	}, current)
	if err != nil {
		return keyward.Session{}, err
	}
	s.signedIn(w, r, cookie, username)
	return sess, nil
}

// signedIn sets the cookies of a browser that has just signed in as
// username with the session cookie value cookie (from
// [issuer.Issuer.CompleteLogin]): the session cookie and the known-browser
// cookie. Every sign-in method ends with it.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, cookie, username string) {
	s.setCookie(w, sessionCookie, cookie, int(issuer.SessionTTL.Seconds()), http.SameSiteLaxMode)
	s.setKnownBrowser(w, r, username)
}

// sessionRow is one session in the sessions section.
type sessionRow struct {
	ID, Device, Started, LastUsed string
	Current                       bool
}

// sessionsSection lists the user's active sessions.
func (s *Server) sessionsSection(ctx context.Context, v *accountView) (any, error) {
	sessions, err := s.iss.UserSessions(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	rows := make([]sessionRow, 0, len(sessions))
	for _, sess := range sessions {
		last := sess.LastUsedAt
		if last.IsZero() {
			last = sess.CreatedAt
		}
		rows = append(rows, sessionRow{ID: sess.ID, Device: sess.Device, Started: when(sess.CreatedAt), LastUsed: when(last),
			Current: sess.ID == v.Session.ID})
	}
	return struct{ Sessions []sessionRow }{rows}, nil
}

// when formats a time for the account page, in UTC to the minute.
func when(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// accountEndSession handles POST /account/sessions/end: it ends one of the
// user's sessions, as a logout does (its refresh tokens, and its access
// tokens through the revocation feed).
func (s *Server) accountEndSession(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	id := f["session_id"]
	if id == "" || len(id) > 128 {
		return seeAccount(w, r, "")
	}
	if err := s.iss.EndUserSession(r.Context(), v.User.ID, id, "ended_from_account"); err != nil {
		return err
	}
	if id == v.Session.ID {
		s.setCookie(w, sessionCookie, "", -1, http.SameSiteLaxMode)
	}
	return seeAccount(w, r, "session_ended")
}

// accountEndOthers handles POST /account/sessions/end-others.
func (s *Server) accountEndOthers(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	if err := s.iss.EndOtherSessions(r.Context(), v.User.ID, v.Session.ID, "ended_from_account"); err != nil {
		return err
	}
	return seeAccount(w, r, "others_ended")
}

// accountLogout handles POST /account/logout: it ends this browser's
// session.
func (s *Server) accountLogout(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	cookie := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		cookie = c.Value
	}
	return s.signedOut(w, r, cookie, "", "")
}

// passwordSection is the data of the password form.
func (s *Server) passwordSection(ctx context.Context, v *accountView) (any, error) {
	return struct {
		Username  string
		MinLength int
	}{v.User.Username, s.iss.PasswordMinLength()}, nil
}

// accountPassword handles POST /account/password.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	err := s.iss.ChangePassword(r.Context(), v.Session, f["current_password"], f["new_password"], clientAddr(r, s.cfg.TrustedProxies))
	var oe *issuer.Error
	switch {
	case err == nil:
		return seeAccount(w, r, "password")
	case errors.Is(err, issuer.ErrPasswordRefused):
		return s.renderAccount(w, r, v, "", "The new password was refused: "+passwordReason(err), http.StatusBadRequest)
	case errors.As(err, &oe) && oe.Code == issuer.CodeSlowDown:
		return s.renderAccount(w, r, v, "", "Too many attempts. Wait a minute and try again.", http.StatusTooManyRequests)
	case errors.As(err, &oe) && (oe.Code == issuer.CodeInvalidGrant || oe.Code == issuer.CodeInvalidRequest):
		return s.renderAccount(w, r, v, "", "Your current password is not right.", http.StatusUnauthorized)
	}
	return err
}

// passwordReason is the policy's reason for refusing a password, without
// the package prefix; it never quotes the password.
func passwordReason(err error) string {
	msg := err.Error()
	const prefix = "issuer: password refused: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return "it does not meet the password rules."
}

// pngDataURL returns a data: URL of a PNG image.
func pngDataURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)) //nolint:gosec // our own PNG
}
