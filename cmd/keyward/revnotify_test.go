package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/verifier"
)

// TestServeReplicasWakeLongPolls runs two "keyward serve" processes on one
// PostgreSQL database: each listens for the revocations of the other (one
// LISTEN connection per replica), and a refresh token revoked on A answers
// a long-poll held on B within 1 s; the delay is logged.
func TestServeReplicasWakeLongPolls(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	env := []string{"KEYWARD_MASTER_KEY=" + strings.Repeat("5a", 32)}
	args := func() []string {
		return []string{"--db", dsn, "--data", filepath.Join(t.TempDir(), "data"), "--alg", "ES256"}
	}
	a := startServe(t, env, args()...)
	password := a.adminPassword(t)
	b := startServe(t, env, args()...)

	// Both replicas listen: their listener loops start with the servers,
	// so give them a bounded while.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	listening := 0
	for deadline := time.Now().Add(10 * time.Second); listening != 2 && time.Now().Before(deadline); {
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN keyward_revocations'`).Scan(&listening); err != nil {
			t.Fatal(err)
		}
	}
	if listening != 2 {
		t.Fatalf("%d replicas listen on keyward_revocations, want 2", listening)
	}

	tok := a.login(t, "admin", password)
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(b.url("/revocations?since=0"))
	if err != nil {
		t.Fatal(err)
	}
	var state verifier.RevocationFeed
	err = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		feed verifier.RevocationFeed
		err  error
		at   time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		var a answer
		resp, err := client.Get(b.url("/revocations?since=" + state.Cursor + "&wait=10"))
		if err == nil {
			defer resp.Body.Close()
			err = json.NewDecoder(resp.Body).Decode(&a.feed)
		}
		a.err, a.at = err, time.Now()
		answered <- a
	}()
	resp, err = client.PostForm(a.url("/revoke"), url.Values{"token": {tok.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on A: %d", resp.StatusCode)
	}
	revoked := time.Now()
	got := <-answered
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.feed.Families) != 1 {
		t.Fatalf("B's long-poll answered %+v, want the revoked family", got.feed)
	}
	delay := max(got.at.Sub(revoked), 0)
	t.Logf("a revocation on replica A answered a long-poll held on replica B after %v", delay)
	if delay > time.Second {
		t.Errorf("B's long-poll answered %v after the revocation on A, want within 1 s", delay)
	}
}
