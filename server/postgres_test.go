package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/storage/postgres"
)

// TestPostgresStopped stops the PostgreSQL server under a running issuer:
// /login, the refresh grant and /readyz answer 503 temporarily_unavailable
// with Retry-After while the JWK Set is still served; once the server is
// started again the same issuer answers them without a restart, and the
// refresh token presented while it was down still works.
func TestPostgresStopped(t *testing.T) {
	t.Parallel()
	db := pgtest.NewServer(t)
	ps, err := postgres.Open(t.Context(), postgres.Config{DSN: db.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	st := newStack(t, stackOptions{store: ps})
	st.addUser(t, "alice", "alice-password-1")
	tok := st.login(t, "alice", "alice-password-1")

	const login = `{"username":"alice","password":"alice-password-1"}`
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()
	requests := []struct {
		name                string
		method, path, ctype string
		body                string
	}{
		{"login", http.MethodPost, "/login", mediaJSON, login},
		{"refresh grant", http.MethodPost, "/token", mediaForm, refresh},
		{"readyz", http.MethodGet, "/readyz", "", ""},
	}

	if err := db.Halt(t.Context()); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = db.Resume(context.Background())
		}
	})
	for _, r := range requests {
		resp, b := st.do(t, r.method, r.path, r.ctype, strings.NewReader(r.body), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || oauthError(t, resp, b) != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with PostgreSQL stopped: %d, Retry-After %q, %s; want 503 temporarily_unavailable with Retry-After",
				r.name, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	if resp, b := st.do(t, http.MethodGet, "/.well-known/jwks.json", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("JWKS with PostgreSQL stopped: %d %s", resp.StatusCode, b)
	}

	if err := db.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	resumed = true
	for _, r := range requests {
		resp, b := st.do(t, r.method, r.path, r.ctype, strings.NewReader(r.body), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s once PostgreSQL is back: %d %s", r.name, resp.StatusCode, b)
		}
	}
}
