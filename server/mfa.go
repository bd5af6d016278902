package server

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// mfaPage is the data of mfa.html, the second-factor form.
type mfaPage struct {
	Title      string
	CSS        template.CSS
	ClientName string
	Error      string
	Action     string
	Hidden     []hiddenField
	// TOTP shows the field of the code of the user's authenticator app;
	// without it, the field takes a recovery code, behind a link.
	TOTP bool
	// Passkeys offers the user's passkeys as the second factor.
	Passkeys bool
}

// enrolPage is the data of mfa_enrol.html, the TOTP enrolment.
type enrolPage struct {
	Title    string
	CSS      template.CSS
	Required bool
	Error    string
	// TOTP shows the enrolment of an authenticator app: the QR code, the
	// key and the field of the first code.
	TOTP   bool
	QR     template.URL
	Secret string
	Action string
	Hidden []hiddenField
	// Passkeys offers the registration of a passkey instead, on the
	// enrolment a user must complete.
	Passkeys bool
}

// codesPage is the data of mfa_codes.html, the recovery codes shown once.
type codesPage struct {
	Title  string
	CSS    template.CSS
	Codes  []string
	Method string
	Action string
	Hidden []hiddenField
}

// factorError is the sentence for a failed second factor, and its status.
func factorError(err error) (string, int, bool) {
	var oe *issuer.Error
	switch {
	case errors.As(err, &oe) && oe.Code == issuer.CodeSlowDown:
		return "Too many codes tried. Wait a few minutes and try again.", http.StatusTooManyRequests, true
	case errors.Is(err, issuer.ErrBadCode):
		return "That code is not right, or was used already. Try the next one.", http.StatusUnauthorized, true
	}
	return "", 0, false
}

// renderFactor renders the second-factor form of the user with the ID
// posting to action with the hidden fields. It offers the factors the user
// holds, and only them: the code field of an authenticator app, the
// passkey button, and always a recovery code (so the page says nothing of
// whether any are left). Someone who knows only the password learns which
// kinds of factor to steal, which the form cannot hide.
func (s *Server) renderFactor(w http.ResponseWriter, r *http.Request, userID, clientName, action string, hidden []hiddenField, problem string, code int) error {
	f, err := s.iss.UserFactors(r.Context(), userID)
	if err != nil {
		return err
	}
	s.render(w, r, code, s.account.mfa, mfaPage{Title: "Two-step sign-in", CSS: s.pages.css, ClientName: clientName,
		Error: problem, Action: action, Hidden: hidden, TOTP: f.TOTP, Passkeys: s.cfg.Passkeys != nil && f.Passkeys > 0})
	return nil
}

// renderEnrol starts or shows again the TOTP enrolment of u and renders it,
// posting to action with the hidden fields. On a server without TOTP (no
// master key) a user who must enrol is offered a passkey alone, or, without
// passkeys either, the page of [Server.noFactorPage]; a user who need not
// enrol gets [issuer.ErrTOTPUnavailable].
func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, u keyward.User, required bool, action string, hidden []hiddenField, problem string, code int) error {
	passkeys := required && s.cfg.Passkeys != nil
	page := enrolPage{Title: "Set up an authenticator app", CSS: s.pages.css, Required: required,
		Error: problem, Action: action, Hidden: hidden, Passkeys: passkeys}
	switch {
	case s.iss.TOTPAvailable():
		e, err := s.iss.BeginTOTP(r.Context(), u)
		if err != nil {
			return err
		}
		page.TOTP, page.QR, page.Secret = true, pngDataURL(e.PNG), e.Secret
	case passkeys:
		page.Title = "Add a passkey"
	case required:
		s.noFactorPage(w, r, u)
		return nil
	default:
		return issuer.ErrTOTPUnavailable
	}
	s.renderCSP(w, r, code, s.account.enrol, page, s.account.enrolCSP)
	return nil
}

// renderCodes shows the recovery codes once, with a button that sends the
// form of method to action with the hidden fields.
func (s *Server) renderCodes(w http.ResponseWriter, r *http.Request, codes []string, method, action string, hidden []hiddenField) {
	s.render(w, r, http.StatusOK, s.account.codes, codesPage{Title: "Your recovery codes", CSS: s.pages.css, Codes: codes,
		Method: method, Action: action, Hidden: hidden})
}

// factorAdded gives the browser a new session cookie value after a factor
// joined its session ([issuer.Issuer.RenewCookie]), keeping the
// known-browser cookie as it is.
func (s *Server) factorAdded(w http.ResponseWriter, r *http.Request) error {
	current := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		current = c.Value
	}
	next, err := s.iss.RenewCookie(r.Context(), current)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, next, int(issuer.SessionTTL.Seconds()), http.SameSiteLaxMode)
	return nil
}

// accountFactorPage asks the account page's user for the second factor.
func (s *Server) accountFactorPage(w http.ResponseWriter, r *http.Request, v *accountView, problem string, code int) error {
	return s.renderFactor(w, r, v.User.ID, "your account", "/account/verify", []hiddenField{{"csrf_token", v.CSRF}}, problem, code)
}

// accountEnrolPage shows the TOTP enrolment on the account page.
func (s *Server) accountEnrolPage(w http.ResponseWriter, r *http.Request, v *accountView, problem string, code int) error {
	required := s.iss.MFARequired(v.User, v.Factors)
	return s.renderEnrol(w, r, v.User, required, "/account/totp/confirm", []hiddenField{{"csrf_token", v.CSRF}}, problem, code)
}

// accountVerify handles POST /account/verify, the second factor after the
// account page's password sign-in.
func (s *Server) accountVerify(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	_, err := s.iss.VerifySecondFactor(r.Context(), v.Session, f["code"])
	if msg, code, ok := factorError(err); ok {
		return s.accountFactorPage(w, r, v, msg, code)
	}
	if err != nil {
		return err
	}
	if err := s.factorAdded(w, r); err != nil {
		return err
	}
	return seeAccount(w, r, "second_factor")
}

// accountTOTP handles GET /account/totp, the enrolment page.
func (s *Server) accountTOTP(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	err := s.accountEnrolPage(w, r, v, "", http.StatusOK)
	if errors.Is(err, issuer.ErrTOTPEnrolled) {
		return seeAccount(w, r, "")
	}
	if errors.Is(err, issuer.ErrTOTPUnavailable) {
		return s.renderAccount(w, r, v, "", "Authenticator apps are not available on this server.", http.StatusNotFound)
	}
	return err
}

// accountTOTPConfirm handles POST /account/totp/confirm: the first code of
// the app turns TOTP on, and the recovery codes are shown once.
func (s *Server) accountTOTPConfirm(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	codes, _, err := s.iss.ConfirmTOTP(r.Context(), v.Session, f["code"])
	if msg, code, ok := factorError(err); ok {
		return s.accountEnrolPage(w, r, v, msg, code)
	}
	if err != nil {
		return err
	}
	if err := s.factorAdded(w, r); err != nil {
		return err
	}
	s.renderCodes(w, r, codes, http.MethodGet, "/account", []hiddenField{{"done", "totp_confirmed"}})
	return nil
}

// accountTOTPRemove handles POST /account/totp/remove, which needs a fresh
// code.
func (s *Server) accountTOTPRemove(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	err := s.iss.RemoveTOTP(r.Context(), v.Session, f["code"])
	if msg, code, ok := factorError(err); ok {
		return s.renderAccount(w, r, v, "", msg, code)
	}
	if err != nil {
		return err
	}
	return seeAccount(w, r, "totp_removed")
}

// accountRecovery handles POST /account/recovery: new recovery codes,
// shown once.
func (s *Server) accountRecovery(w http.ResponseWriter, r *http.Request, v *accountView, f form) error {
	codes, err := s.iss.RegenerateRecoveryCodes(r.Context(), v.Session)
	if errors.Is(err, issuer.ErrNotEnoughFactors) {
		return s.renderAccount(w, r, v, "", "Set up an authenticator app first.", http.StatusBadRequest)
	}
	if err != nil {
		return err
	}
	s.renderCodes(w, r, codes, http.MethodGet, "/account", nil)
	return nil
}

// totpSection is the data of the authenticator-app section.
func (s *Server) totpSection(ctx context.Context, v *accountView) (any, error) {
	return struct{ Enrolled, Available bool }{v.Factors.TOTP, s.iss.TOTPAvailable()}, nil
}

// recoverySection is the data of the recovery-codes section.
func (s *Server) recoverySection(ctx context.Context, v *accountView) (any, error) {
	return struct {
		Enrolled bool
		Left     int
	}{v.Factors.Any(), v.Factors.RecoveryCodes}, nil
}

// The values of the mfa_action field of the second-factor forms that
// /authorize shows after the password.
const (
	mfaVerify   = "verify"
	mfaEnrol    = "enrol"
	mfaContinue = "continue"
)

// authzHidden returns the authorization parameters of f to carry through
// a form of /authorize, prompt left out (the form is the interaction it
// asked for), with the CSRF token and the mfa_action.
func authzHidden(f form, csrf, action string) []hiddenField {
	var out []hiddenField
	for _, name := range authzParams {
		if v := f[name]; v != "" && name != "prompt" {
			out = append(out, hiddenField{name, v})
		}
	}
	return append(out, hiddenField{"csrf_token", csrf}, hiddenField{"mfa_action", action})
}

// stepUp decides whether the session sess may be used for the
// authorization request f, which asks for the class acr: when it lacks a
// second factor or its enrolment ([issuer.Issuer.Requirement]) it answers
// with the page that gets it (or, for prompt=none, login_required through
// fail) and returns true; a class the user cannot meet is
// unmet_authentication_requirements. It returns false when the session
// may be used.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, f form, clientName string, sess keyward.Session, acr string, fail func(error) error) (bool, error) {
	need, err := s.iss.Requirement(r.Context(), sess, acr)
	if err != nil {
		return true, fail(err)
	}
	if need == issuer.NeedNothing {
		s.iss.TouchSession(r.Context(), sess)
		return false, nil
	}
	if need == issuer.NeedUnmet {
		return true, fail(&issuer.Error{Code: "unmet_authentication_requirements", Description: "the user cannot meet the requested acr_values"})
	}
	if contains(strings.Fields(f["prompt"]), "none") {
		return true, fail(&issuer.Error{Code: "login_required", Description: "the user must present a second factor"})
	}
	csrf := s.csrfToken(w, r)
	if need == issuer.NeedFactor {
		return true, s.renderFactor(w, r, sess.UserID, clientName, "/authorize", authzHidden(f, csrf, mfaVerify), "", http.StatusOK)
	}
	u, err := s.iss.User(r.Context(), sess.UserID)
	if err != nil {
		return true, err
	}
	return true, s.renderEnrol(w, r, u, true, "/authorize", authzHidden(f, csrf, mfaEnrol), "", http.StatusOK)
}

// continueWithin is how long after the session's last authentication the
// mfa_action=continue of /authorize may go on with a request: it follows
// a factor just presented (the button under the recovery codes, the
// script after a passkey), and is no way around a login.
const continueWithin = 10 * time.Minute

// continueFresh is how recent the session's last authentication must be
// for a continue of a request with max_age=0 (or under a minute): the
// factor was presented in this interaction, moments before.
const continueFresh = time.Minute

// staleContinue reports whether the session is too old for a continue of
// the request f: its last authentication is older than [continueWithin],
// or than the request's max_age ([continueFresh] at least). Without the
// check a continue posted by whoever holds the browser would skip the
// login that max_age or prompt=login asks for.
func (s *Server) staleContinue(sess keyward.Session, f form) bool {
	if s.iss.NeedsLogin(sess, continueWithin) {
		return true
	}
	maxAge, ok, err := parseMaxAge(f["max_age"])
	return err != nil || ok && s.iss.NeedsLogin(sess, max(maxAge, continueFresh))
}

// loginAgain sends the browser to the login of the authorization request
// f (prompt=login), with 303 so that it is loaded with GET.
func loginAgain(w http.ResponseWriter, r *http.Request, f form) error {
	q := url.Values{}
	for _, name := range authzParams {
		if v := f[name]; v != "" && name != "prompt" {
			q.Set(name, v)
		}
	}
	q.Set("prompt", "login")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/authorize?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// authorizeFactor handles a POST of a second-factor form of /authorize
// (its mfa_action field set): the code of the factor, the first code of an
// enrolment, or the button under the recovery codes; then the request goes
// on through issue, which checks the session again.
func (s *Server) authorizeFactor(w http.ResponseWriter, r *http.Request, f form, clientName string, issue func(keyward.Session) error) error {
	if !s.validCSRF(r, f["csrf_token"]) {
		s.errorPage(w, r, http.StatusForbidden, "The sign-in form expired or was not sent from this site. Go back to the application and start again.",
			errors.New("csrf token missing or mismatched"))
		return nil
	}
	cookie := ""
	if c, err := s.cookie(r, sessionCookie); err == nil {
		cookie = c.Value
	}
	sess, err := s.iss.Session(r.Context(), cookie)
	switch {
	case errors.Is(err, issuer.ErrNoSession):
		s.errorPage(w, r, http.StatusBadRequest, "Your sign-in expired. Go back to the application and start again.", err)
		return nil
	case err != nil:
		return err
	}
	switch f["mfa_action"] {
	case mfaVerify:
		next, err := s.iss.VerifySecondFactor(r.Context(), sess, f["code"])
		if msg, code, ok := factorError(err); ok {
			return s.renderFactor(w, r, sess.UserID, clientName, "/authorize", authzHidden(f, f["csrf_token"], mfaVerify), msg, code)
		}
		if err != nil {
			return err
		}
		if err := s.factorAdded(w, r); err != nil {
			return err
		}
		return issue(next)
	case mfaEnrol:
		codes, _, err := s.iss.ConfirmTOTP(r.Context(), sess, f["code"])
		if msg, code, ok := factorError(err); ok {
			u, err := s.iss.User(r.Context(), sess.UserID)
			if err != nil {
				return err
			}
			return s.renderEnrol(w, r, u, true, "/authorize", authzHidden(f, f["csrf_token"], mfaEnrol), msg, code)
		}
		if err != nil {
			return err
		}
		if err := s.factorAdded(w, r); err != nil {
			return err
		}
		s.renderCodes(w, r, codes, http.MethodPost, "/authorize", authzHidden(f, f["csrf_token"], mfaContinue))
		return nil
	case mfaContinue:
		if s.staleContinue(sess, f) {
			return loginAgain(w, r, f)
		}
		return issue(sess)
	}
	s.errorPage(w, r, http.StatusBadRequest, "The sign-in request is malformed.", errors.New("unknown mfa_action"))
	return nil
}
