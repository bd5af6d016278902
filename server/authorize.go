package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/issuer"
)

// Cookie names. The session cookie carries the issuer session (single
// sign-on); the CSRF cookie carries the double-submit token of the login
// form. On an https issuer both carry [hostPrefix] (see
// [Server.cookieName]).
const (
	sessionCookie = "keyward_session"
	csrfCookie    = "keyward_csrf"
)

// hostPrefix is the cookie name prefix that browsers accept only on a
// cookie set with Secure, Path=/ and no Domain, by the host itself (RFC
// 6265bis §4.1.3.2): a sibling subdomain, which may set cookies for the
// whole parent domain, can never plant one.
const hostPrefix = "__Host-"

//go:embed templates
var templateFS embed.FS

// pages holds the parsed HTML templates and the stylesheet they inline.
type pages struct {
	login, message, formPost *template.Template
	// logout is the confirmation page of /logout.
	logout *template.Template
	css    template.CSS
	// csp is the Content-Security-Policy of every page but formPost's,
	// which also lets its one script run: formPostCSP.
	csp, formPostCSP string
}

// formPostScript submits the form of the form_post response page (OAuth
// 2.0 Form Post Response Mode §2) as soon as it is read: the only script
// the issuer serves, allowed by its hash.
const formPostScript = "document.forms[0].submit();"

func loadPages() (*pages, error) {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return nil, err
	}
	p := &pages{css: template.CSS(css)} //nolint:gosec // our own embedded stylesheet
	sum := sha256.Sum256(css)
	p.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'"
	js := sha256.Sum256([]byte(formPostScript))
	p.formPostCSP = p.csp + "; script-src 'sha256-" + base64.StdEncoding.EncodeToString(js[:]) + "'"
	if p.login, err = template.ParseFS(templateFS, "templates/layout.html", "templates/login.html"); err != nil {
		return nil, err
	}
	if p.message, err = template.ParseFS(templateFS, "templates/layout.html", "templates/message.html"); err != nil {
		return nil, err
	}
	if p.formPost, err = template.ParseFS(templateFS, "templates/layout.html", "templates/formpost.html"); err != nil {
		return nil, err
	}
	if p.logout, err = template.ParseFS(templateFS, "templates/layout.html", "templates/logout.html"); err != nil {
		return nil, err
	}
	p.login, p.message, p.formPost = p.login.Lookup("login.html"), p.message.Lookup("message.html"), p.formPost.Lookup("formpost.html")
	p.logout = p.logout.Lookup("logout.html")
	return p, nil
}

// hiddenField is one authorization parameter carried through the login form.
type hiddenField struct{ Name, Value string }

// loginPage is the data of login.html.
type loginPage struct {
	Title      string
	CSS        template.CSS
	ClientName string
	Error      string
	Action     string
	Hidden     []hiddenField
	Username   string
	// Passkeys offers sign-in with a passkey beside the password.
	Passkeys bool
}

// formPostPage is the data of formpost.html.
type formPostPage struct {
	Title  string
	CSS    template.CSS
	Action string
	Hidden []hiddenField
	Script template.JS
}

// messagePage is the data of message.html.
type messagePage struct {
	Title   string
	CSS     template.CSS
	Message string
}

// render writes an HTML page with headers that keep it out of caches and
// frames.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, t *template.Template, data any) {
	s.renderCSP(w, r, code, t, data, s.pages.csp)
}

// renderCSP is render with the Content-Security-Policy csp.
func (s *Server) renderCSP(w http.ResponseWriter, r *http.Request, code int, t *template.Template, data any, csp string) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "template_failed",
			slog.String("request_id", httpx.RequestIDFrom(r.Context())), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers an authorization request that cannot be redirected.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request_failed",
		slog.String("request_id", httpx.RequestIDFrom(r.Context())),
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", code), slog.String("error", err.Error()))
	s.render(w, r, code, s.pages.message, messagePage{Title: "Sign-in error", CSS: s.pages.css, Message: msg})
}

// secureCookies reports whether cookies get the Secure attribute.
func (s *Server) secureCookies() bool {
	return strings.HasPrefix(s.iss.IssuerURL(), "https://")
}

// cookieName returns the wire name of the cookie called name: with
// [hostPrefix] on an https issuer, so that a cookie planted under the plain
// name by a sibling subdomain is never read; the plain name on an http
// issuer (development), where browsers refuse the prefix.
func (s *Server) cookieName(name string) string {
	if s.secureCookies() {
		return hostPrefix + name
	}
	return name
}

// cookie returns the request's cookie name (see [Server.cookieName]).
func (s *Server) cookie(r *http.Request, name string) (*http.Cookie, error) {
	return r.Cookie(s.cookieName(name))
}

// setCookie sets the cookie name (see [Server.cookieName]) with Path=/ and
// no Domain, HttpOnly, and Secure on an https issuer.
func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: site,
	})
}

// authzParams are the authorization request parameters carried through the
// login form.
var authzParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "acr_values", "dpop_jkt"}

// Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1,
// OAuth 2.0 Form Post Response Mode §2): the ways the authorization
// response reaches the client.
const (
	responseModeQuery    = "query"
	responseModeFormPost = "form_post"
)

// responseModes returns the response modes /authorize supports, for
// discovery.
func responseModes() []string { return []string{responseModeQuery, responseModeFormPost} }

// maxMaxAge caps max_age: a session never lasts this long, and the cap
// keeps the conversion to a time.Duration from overflowing.
const maxMaxAge = 100 * 365 * 24 * time.Hour

// parseMaxAge reads the max_age parameter of OIDC Core §3.1.2.1, the
// seconds allowed since the user last logged in. ok is false when it is
// absent; an empty value counts as absent (RFC 6749 §3.1). Anything but a
// decimal integer of ASCII digits (no sign, no fraction) is an
// invalid_request error. Values beyond [maxMaxAge] are capped to it.
func parseMaxAge(v string) (d time.Duration, ok bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false, invalidRequest("max_age must be a non-negative integer number of seconds")
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > uint64(maxMaxAge/time.Second) {
		return maxMaxAge, true, nil // only digits: out of range, so no limit
	}
	return time.Duration(n) * time.Second, true, nil
}

// authorize handles GET and POST /authorize (RFC 6749 §4.1.1, OIDC Core
// §3.1.2): a POST is either the login form or a form-encoded authorization
// request. While the store is unreachable the browser gets a 503 page with
// Retry-After, at any step of the flow: reloading it retries.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	return s.unavailablePage(w, r, s.authorizeFlow(w, r))
}

// unavailablePage answers err with an HTML 503 page and Retry-After when it
// is [keyward.ErrUnavailable] and returns nil, for the pages a browser
// shows; it returns any other err as it is.
func (s *Server) unavailablePage(w http.ResponseWriter, r *http.Request, err error) error {
	if !errors.Is(err, keyward.ErrUnavailable) {
		return err
	}
	a := answerFor(err)
	a.setHeaders(w.Header())
	s.logFailure(r, a.status, err)
	s.render(w, r, a.status, s.pages.message, messagePage{Title: "Temporarily unavailable", CSS: s.pages.css,
		Message: "The sign-in service is temporarily unavailable. Try again in a moment."})
	return nil
}

// pageForm reads the parameters of a request for a browser page: the form
// body of a POST, the query of any other method. A malformed body or a
// repeated parameter is not an error but a problem: a sentence for the user
// about the request (what names it: "sign-in", "sign-out"), with the cause
// for the log. err is a failure to read the body, answered as such.
func (s *Server) pageForm(w http.ResponseWriter, r *http.Request, what string) (f form, problem string, cause, err error) {
	if r.Method == http.MethodPost {
		_, body, err := s.readBody(w, r, false)
		if err != nil {
			return nil, "", nil, err
		}
		if f, err = parseForm(body); err != nil {
			return nil, "The " + what + " request is malformed.", err, nil
		}
		return f, "", nil, nil
	}
	q := r.URL.Query()
	f = make(form, len(q))
	for k, v := range q {
		if len(v) > 1 {
			return nil, "The " + what + " request repeats a parameter.", errors.New("repeated parameter " + truncate(k)), nil
		}
		f[k] = v[0]
	}
	return f, "", nil, nil
}

// authorizeFlow is [Server.authorize] but for the unavailable store.
func (s *Server) authorizeFlow(w http.ResponseWriter, r *http.Request) error {
	f, problem, cause, err := s.pageForm(w, r, "sign-in")
	if err != nil {
		return err
	}
	if problem != "" {
		s.errorPage(w, r, http.StatusBadRequest, problem, cause)
		return nil
	}
	client, err := s.iss.AuthorizeClient(r.Context(), f["client_id"], f["redirect_uri"])
	switch {
	case errors.Is(err, issuer.ErrUnknownClient):
		s.errorPage(w, r, http.StatusBadRequest, "The application that sent you here is not registered.", err)
		return nil
	case errors.Is(err, issuer.ErrRedirectURI):
		s.errorPage(w, r, http.StatusBadRequest, "The application that sent you here gave a redirect address it has not registered.", err)
		return nil
	case err != nil:
		return err
	}
	// An unknown response_mode is refused below, through the default
	// mode (query).
	formPost := f["response_mode"] == responseModeFormPost
	redirect := func(params url.Values) error {
		if f["state"] != "" {
			params.Set("state", f["state"])
		}
		params.Set("iss", s.iss.IssuerURL())
		if formPost {
			// OAuth 2.0 Form Post Response Mode §2: the parameters go
			// in a form the browser posts to the redirect URI, never in
			// a URL that could leak through logs, history or Referer.
			page := formPostPage{Title: "Signing you in", CSS: s.pages.css, Action: f["redirect_uri"], Script: formPostScript}
			for _, k := range slices.Sorted(maps.Keys(params)) {
				page.Hidden = append(page.Hidden, hiddenField{k, params.Get(k)})
			}
			s.renderCSP(w, r, http.StatusOK, s.pages.formPost, page, s.pages.formPostCSP)
			return nil
		}
		u, err := url.Parse(f["redirect_uri"])
		if err != nil {
			return err
		}
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Cache-Control", "no-store")
		code := http.StatusFound
		if r.Method == http.MethodPost {
			code = http.StatusSeeOther
		}
		http.Redirect(w, r, u.String(), code)
		return nil
	}
	fail := func(err error) error {
		var oe *issuer.Error
		if !errors.As(err, &oe) || errors.Is(err, keyward.ErrUnavailable) {
			return err
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "authorize_refused",
			slog.String("request_id", httpx.RequestIDFrom(r.Context())), slog.String("client_id", client.ID),
			slog.String("error", oe.Code))
		return redirect(url.Values{"error": {oe.Code}, "error_description": {oe.Description}})
	}
	if f["response_type"] != "code" {
		return fail(&issuer.Error{Code: "unsupported_response_type", Description: "response_type must be code"})
	}
	if m := f["response_mode"]; m != "" && m != responseModeQuery && m != responseModeFormPost {
		return fail(invalidRequest("response_mode must be query or form_post"))
	}
	if u, err := url.Parse(f["redirect_uri"]); formPost && (err != nil || !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) {
		// A native app's private-use scheme receives no POST.
		formPost = false
		return fail(invalidRequest("response_mode form_post needs an http or https redirect URI"))
	}
	req := issuer.AuthorizeRequest{
		Client: client, RedirectURI: f["redirect_uri"], Scope: f["scope"], Nonce: f["nonce"],
		CodeChallenge: f["code_challenge"], CodeChallengeMethod: f["code_challenge_method"],
		DPoPJKT: f["dpop_jkt"],
	}
	scope, err := s.iss.CheckAuthorize(req)
	if err != nil {
		return fail(err)
	}
	maxAge, hasMaxAge, err := parseMaxAge(f["max_age"])
	if err != nil {
		return fail(err)
	}
	acr, err := issuer.ParseACRValues(f["acr_values"])
	if err != nil {
		return fail(invalidRequest(err.Error()))
	}
	clientName := client.Name
	if clientName == "" {
		clientName = client.ID
	}
	issue := func(sess keyward.Session) error {
		// A session without the second factor the user or acr_values
		// needs gets the page that adds it first (mfa.go).
		if stop, err := s.stepUp(w, r, f, clientName, sess, acr, fail); stop {
			return err
		}
		code, err := s.iss.IssueCode(r.Context(), req, scope, sess)
		if err != nil {
			return fail(err)
		}
		return redirect(url.Values{"code": {code}})
	}
	if r.Method == http.MethodPost && f["mfa_action"] != "" {
		return s.authorizeFactor(w, r, f, clientName, issue)
	}
	prompt := strings.Fields(f["prompt"])
	loginForm := r.Method == http.MethodPost && f["csrf_token"] != ""
	tooOld := false
	if !loginForm && !contains(prompt, "login") {
		if c, err := s.cookie(r, sessionCookie); err == nil {
			sess, err := s.iss.Session(r.Context(), c.Value)
			switch {
			case err == nil && hasMaxAge && s.iss.NeedsLogin(sess, maxAge):
				// OIDC Core §3.1.2.1: the login is older than max_age, so
				// the user logs in again; the fresh login's time becomes
				// the ID token's auth_time.
				tooOld = true
			case err == nil:
				return issue(sess)
			case !errors.Is(err, issuer.ErrNoSession):
				return fail(err)
			}
		}
	}
	if contains(prompt, "none") {
		desc := "the user is not signed in"
		if tooOld {
			desc = "the user signed in longer ago than max_age allows"
		}
		return fail(&issuer.Error{Code: "login_required", Description: desc})
	}
	page := loginPage{Title: "Sign in", CSS: s.pages.css, ClientName: client.Name, Action: "/authorize", Passkeys: s.cfg.Passkeys != nil}
	if page.ClientName == "" {
		page.ClientName = client.ID
	}
	for _, name := range authzParams {
		v := f[name]
		if name == "prompt" {
			v = "" // the form is the login the prompt asked for
		}
		if v != "" {
			page.Hidden = append(page.Hidden, hiddenField{name, v})
		}
	}
	if !loginForm {
		page.Hidden = append(page.Hidden, hiddenField{"csrf_token", s.csrfToken(w, r)})
		s.render(w, r, http.StatusOK, s.pages.login, page)
		return nil
	}
	if !s.validCSRF(r, f["csrf_token"]) {
		s.errorPage(w, r, http.StatusForbidden, "The sign-in form expired or was not sent from this site. Go back to the application and start again.",
			errors.New("csrf token missing or mismatched"))
		return nil
	}
	page.Hidden = append(page.Hidden, hiddenField{"csrf_token", f["csrf_token"]})
	page.Username = f["username"]
	// A browser that logs in again hands its session cookie to SignIn: the
	// same user's session goes on under a new cookie value, another user's
	// session ends.
	sess, err := s.passwordSignIn(w, r, f["username"], f["password"])
	var oe *issuer.Error
	switch {
	case err == nil:
	case errors.As(err, &oe) && oe.Code == issuer.CodeSlowDown:
		page.Error = "Too many sign-in attempts. Wait a minute and try again."
		s.render(w, r, http.StatusTooManyRequests, s.pages.login, page)
		return nil
	case errors.As(err, &oe) && (oe.Code == issuer.CodeInvalidGrant || oe.Code == issuer.CodeInvalidRequest):
		page.Error = "Invalid username or password."
		s.render(w, r, http.StatusUnauthorized, s.pages.login, page)
		return nil
	default:
		return err
	}
	return issue(sess)
}
