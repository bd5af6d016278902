package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// TestMain stops the PostgreSQL server that pgtest.DSN may have started.
func TestMain(m *testing.M) { pgtest.Main(m) }

// replicaReloadBound is the documented bound (docs/scaling.md) within which
// a key change made by another replica or by "keyward keys" shows in a
// replica's JWKS: the key manager's default check interval of 5s, plus
// slack for a loaded machine.
const replicaReloadBound = 5*time.Second + 3*time.Second

// TestServeReplicasPostgres runs two "keyward serve" processes on one
// PostgreSQL database and checks that they behave as one issuer: identical
// JWKS bytes, a refresh token issued by one refreshes at the other, the same
// refresh token sent to both at once succeeds exactly once and revokes its
// family, a "keyward keys rotate" on the database shows in both JWKS within
// the documented bound, and killing one replica leaves the other serving.
func TestServeReplicasPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	env := []string{"KEYWARD_MASTER_KEY=" + strings.Repeat("5a", 32)}
	args := func() []string {
		return []string{"--db", dsn, "--data", filepath.Join(t.TempDir(), "data"), "--alg", "ES256"}
	}
	a := startServe(t, env, args()...)
	password := a.adminPassword(t)
	b := startServe(t, env, args()...)
	if strings.Contains(b.stdout.String(), "admin password") {
		t.Fatal("the second replica created another admin")
	}

	// Identical JWKS bytes and ETags.
	bodyA, etagA := jwksBytes(t, a)
	bodyB, etagB := jwksBytes(t, b)
	if !bytes.Equal(bodyA, bodyB) || etagA != etagB {
		t.Fatalf("the replicas serve different JWKS:\nA %s %s\nB %s %s", etagA, bodyA, etagB, bodyB)
	}
	// One ES256 key and one RS256 ID-token key, made by A alone.
	if n := len(a.jwks(t).Keys); n != 2 {
		t.Fatalf("%d keys published after both replicas started, want 2:\n%s", n, bodyA)
	}

	// A token issued by A verifies with B's keys and refreshes at B, and
	// the result refreshes back at A.
	tok := a.login(t, "admin", password)
	if _, err := jose.VerifyJWT(tok.AccessToken, b.jwks(t), mustAlgs(t), &jose.Policy{Audiences: []string{"api"}}); err != nil {
		t.Fatalf("A's access token does not verify with B's JWKS: %v", err)
	}
	code, tokB := refresh(t, b, tok.RefreshToken)
	if code != http.StatusOK {
		t.Fatalf("refresh at B of A's token: %d", code)
	}
	code, _ = refresh(t, a, tokB.RefreshToken)
	if code != http.StatusOK {
		t.Fatalf("refresh at A of B's token: %d", code)
	}
	if code, _ := refresh(t, b, tok.RefreshToken); code != http.StatusBadRequest {
		t.Fatalf("the first, already used refresh token at B: %d, want 400", code)
	}

	// The same refresh token sent to both at once, several times over.
	for round := range 5 {
		fresh := a.login(t, "admin", password)
		var (
			wg    sync.WaitGroup
			codes [2]int
			got   [2]issuer.TokenResponse
			start = make(chan struct{})
		)
		for i, p := range []*serveProc{a, b} {
			wg.Go(func() {
				<-start
				codes[i], got[i] = refresh(t, p, fresh.RefreshToken)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		var winner issuer.TokenResponse
		for i, c := range codes {
			switch c {
			case http.StatusOK:
				ok++
				winner = got[i]
			case http.StatusBadRequest:
			default:
				t.Fatalf("round %d: refresh answered %d", round, c)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of 2 concurrent refreshes of one token succeeded (codes %v), want exactly 1", round, ok, codes)
		}
		// The second presentation was a reuse: the family is revoked, so
		// the winner's new refresh token no longer works.
		if c, _ := refresh(t, a, winner.RefreshToken); c != http.StatusBadRequest {
			t.Fatalf("round %d: the family survived the reuse of its token: %d", round, c)
		}
	}

	// keyward keys rotate on the shared database, then both replicas must
	// publish the new key within the bound.
	before := a.jwks(t).KeyIDs()
	r := runBinaryEnv(t, t.TempDir(), env, []string{"keys", "rotate", "--db", dsn, "--alg", "ES256"}, "")
	if r.code != 0 {
		t.Fatalf("keys rotate: %d %s", r.code, r.stderr)
	}
	rotated := time.Now()
	seen := map[*serveProc]time.Duration{}
	for len(seen) < 2 && time.Since(rotated) < 3*replicaReloadBound {
		for _, p := range []*serveProc{a, b} {
			if _, ok := seen[p]; !ok && len(p.jwks(t).KeyIDs()) > len(before) {
				seen[p] = time.Since(rotated)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, p := range map[string]*serveProc{"A": a, "B": b} {
		d, ok := seen[p]
		if !ok {
			t.Fatalf("replica %s did not publish the rotated key within %v", name, 3*replicaReloadBound)
		}
		t.Logf("replica %s published the rotated key after %v", name, d.Round(time.Millisecond))
		if d > replicaReloadBound {
			t.Errorf("replica %s published the rotated key after %v, over the bound %v", name, d, replicaReloadBound)
		}
	}
	// Both replicas serve the new keys of both purposes, and the same bytes.
	deadline := time.Now().Add(replicaReloadBound)
	for len(b.jwks(t).Keys) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	bodyA, _ = jwksBytes(t, a)
	bodyB, _ = jwksBytes(t, b)
	if !bytes.Equal(bodyA, bodyB) || len(a.jwks(t).Keys) != 4 {
		t.Fatalf("after the rotation the replicas serve different JWKS, or not the 4 keys:\nA %s\nB %s", bodyA, bodyB)
	}

	// Killing A does not disturb B: logins, refreshes and the JWKS go on.
	tok = b.login(t, "admin", password)
	a.kill(t)
	for range 3 {
		code, next := refresh(t, b, tok.RefreshToken)
		if code != http.StatusOK {
			t.Fatalf("refresh at B after A stopped: %d", code)
		}
		tok = next
	}
	if _, err := jose.VerifyJWT(tok.AccessToken, b.jwks(t), mustAlgs(t), &jose.Policy{Audiences: []string{"api"}}); err != nil {
		t.Fatalf("B's token after A stopped: %v", err)
	}
	b.login(t, "admin", password)
}

// jwksBytes returns the JWKS body and ETag a replica serves.
func jwksBytes(t *testing.T, p *serveProc) ([]byte, string) {
	t.Helper()
	resp, err := httpClient().Get(p.url("/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %d %v", resp.StatusCode, err)
	}
	return body, resp.Header.Get("ETag")
}

// refresh presents a refresh token at a replica's token endpoint. It is
// safe to call from several goroutines: it reports failures with t.Errorf.
func refresh(t *testing.T, p *serveProc, token string) (int, issuer.TokenResponse) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	var tr issuer.TokenResponse
	resp, err := httpClient().PostForm(p.url("/token"), form)
	if err != nil {
		t.Errorf("refresh: %v", err)
		return 0, tr
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &tr); err != nil || tr.RefreshToken == "" {
			t.Errorf("refresh response %s: %v", b, err)
		}
	}
	return resp.StatusCode, tr
}
