package server

import (
	"net/http"

	"github.com/keyward/keyward/issuer"
)

// knownBrowserCookie is the name of the known-browser cookie (with
// [hostPrefix] on an https issuer): set by the login form on a successful
// sign-in, it lets that browser through the login throttle of that account
// when an attack has throttled it (see [issuer.ThrottleConfig]). Only the
// login form sets it: /login answers programs, which keep no cookies.
const knownBrowserCookie = "keyward_browser"

// knownBrowser returns the known-browser cookie value of r, empty for
// none.
func (s *Server) knownBrowser(r *http.Request) string {
	if c, err := s.cookie(r, knownBrowserCookie); err == nil {
		return c.Value
	}
	return ""
}

// setKnownBrowser sets a known-browser cookie for the account of username,
// for [issuer.KnownBrowserTTL], HttpOnly and SameSite=Lax. A failure to make
// one is logged and costs the browser only the cookie.
func (s *Server) setKnownBrowser(w http.ResponseWriter, r *http.Request, username string) {
	v, err := s.iss.KnownBrowser(username)
	if err != nil {
		s.log.ErrorContext(r.Context(), "known_browser_cookie_failed", "error", err.Error())
		return
	}
	s.setCookie(w, knownBrowserCookie, v, int(issuer.KnownBrowserTTL.Seconds()), http.SameSiteLaxMode)
}
