package verifier

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/jose"
)

// TestIsPublicSpellings checks that a public exception matches no path
// holding ";" or "\": a proxy in front of Tomcat, Jetty or Spring (which
// read "..;" as "..") or IIS (which reads "\" as "/") would otherwise let
// "/static/..;/admin" through without a token to the upstream's /admin.
func TestIsPublicSpellings(t *testing.T) {
	t.Parallel()
	exact, prefixes := []string{"/", "/health;x"}, []string{"/static/"}
	tests := []struct {
		path string
		want bool
	}{
		{"/", true},
		{"/static/app.js", true},
		{"/static/..;/admin", false},
		{"/static/.;/admin", false},
		{"/static/..;x=1/admin", false},
		{`/static/..\admin`, false},
		{"/health;x", false},
		{"/static/../admin", false},
	}
	for _, tt := range tests {
		if got := isPublic(tt.path, exact, prefixes); got != tt.want {
			t.Errorf("isPublic(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestMiddlewarePublicEncodedSlash checks that a public prefix does not
// let through a path that is under it only once "%2F" is decoded: a
// handler or upstream routing on segments reads "/static%2Fsecret" as one
// segment at the root, which the public prefix was never meant to open.
func TestMiddlewarePublicEncodedSlash(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	v := newVerifier(t, baseConfig(newClock(), rsaA))
	for _, mode := range []DPoPMode{DPoPOff, DPoPAllowed} {
		cfg := MiddlewareConfig{PublicPrefixes: []string{"/static/"}}
		cfg.DPoP.Mode = mode
		h := Middleware(v, cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}))
		for target, want := range map[string]int{
			"/static/app.js":    http.StatusTeapot,
			"/static%2Fsecret":  http.StatusUnauthorized,
			"/static%2fsecret":  http.StatusUnauthorized,
			"/static/a%2F..%2F": http.StatusUnauthorized,
		} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
			if w.Code != want {
				t.Errorf("DPoP %v, %s: status %d, want %d", mode, target, w.Code, want)
			}
		}
	}
}
