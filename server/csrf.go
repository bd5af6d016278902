package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// csrfToken returns the browser's CSRF token, the double-submit token of
// the login form, setting a new one in the CSRF cookie (SameSite=Strict)
// when the browser holds none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := s.cookie(r, csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	s.setCookie(w, csrfCookie, token, 3600, http.SameSiteStrictMode)
	return token
}

// validCSRF reports whether got, the csrf_token of a posted form, is the
// token of the browser's CSRF cookie: a form posted from another site
// cannot know it.
func (s *Server) validCSRF(r *http.Request, got string) bool {
	c, err := s.cookie(r, csrfCookie)
	return err == nil && len(c.Value) == 43 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(got)) == 1
}
