package verifier

import "testing"

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
