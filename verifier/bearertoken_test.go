package verifier

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestBearerToken pins BearerToken's answer to each shape of Authorization
// header, DPoP among the other schemes.
func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers []string
		token   string
		err     error
	}{
		{"none", nil, "", ErrNoToken},
		{"bearer", []string{"Bearer a.b.c"}, "a.b.c", nil},
		{"case and spaces", []string{"  bEaReR   a.b.c  "}, "a.b.c", nil},
		{"empty", []string{"Bearer "}, "", ErrInvalidRequest},
		{"no token", []string{"Bearer"}, "", ErrInvalidRequest},
		{"inner space", []string{"Bearer a b"}, "", ErrInvalidRequest},
		{"inner tab", []string{"Bearer a\tb"}, "", ErrInvalidRequest},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", ErrInvalidRequest},
		{"basic", []string{"Basic eA=="}, "", ErrNoToken},
		{"dpop", []string{"DPoP a.b.c"}, "", ErrNoToken},
		{"dpop empty", []string{"dpop "}, "", ErrNoToken},
		{"dpop inner space", []string{"DPoP a b"}, "", ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			tok, err := BearerToken(r)
			if tok != tt.token || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("BearerToken = %q, %v; want %q, %v", tok, err, tt.token, tt.err)
			}
		})
	}
}
