package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/issuer"
)

// TestDPoPUserinfoRecordsOnlyBoundProofs: /userinfo records a proof in
// the replay cache, which /token shares, only once the token it came with
// has verified and the proof is signed by the key the token is bound to.
// Otherwise anyone could fill the cache with proofs of their own keys and
// made-up tokens, and every DPoP request would be answered 503 until the
// proofs left the window. The observable sign of a recorded proof is its
// second sending being refused as a replay rather than for what is wrong
// with it.
func TestDPoPUserinfoRecordsOnlyBoundProofs(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	v := newVerifier()
	tp := d.proof(t, d.keyA, http.MethodPost, "/token", "", "")
	at := d.wantBound(t, d.redeem(t, d.signInBound(t, v, nil), v, tp), d.keyA).AccessToken
	const forged = "not-a-token"
	tests := []struct {
		name  string
		token string
		proof string
		code  string
	}{
		{"a token that does not verify, with a proof of the sender's key", forged, d.proof(t, d.keyB, http.MethodGet, "/userinfo", forged, ""), issuer.CodeInvalidToken},
		{"a bound token, with a proof of another key", at, d.proof(t, d.keyB, http.MethodGet, "/userinfo", at, ""), issuer.CodeInvalidDPoPProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first string
			for i := range 2 {
				r := d.userinfo(t, "DPoP "+tt.token, tt.proof)
				wantError(t, r, http.StatusUnauthorized, tt.code)
				var e struct {
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(r.body, &e); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = e.Description
				} else if e.Description != first {
					t.Errorf("sent again: %q, first %q: the proof was recorded", e.Description, first)
				}
			}
		})
	}
	// The holder of the key still gets through.
	if r := d.userinfo(t, "DPoP "+at, d.proof(t, d.keyA, http.MethodGet, "/userinfo", at, "")); r.resp.StatusCode != http.StatusOK {
		t.Fatalf("proof of the bound key: %d %s", r.resp.StatusCode, r.body)
	}
}

// TestDPoPTokenRecordsOnlyGrantedProofs: /token records a proof in the
// replay cache only once the grant it came with has been granted, so that
// whoever holds no valid grant (no credentials, a made-up code or refresh
// token) cannot fill the cache with proofs of keys of their own and have
// every DPoP request answered 503 until the proofs leave the window. A
// replay of a granted request is still refused.
func TestDPoPTokenRecordsOnlyGrantedProofs(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	tests := []struct {
		name string
		send func(proof string) reply
		code string
	}{
		{"a made-up refresh token, no client", func(p string) reply {
			return replyOf(d.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"made-up"}}, withProofs("", "", p)))
		}, issuer.CodeInvalidGrant},
		{"a made-up code of a public client", func(p string) reply {
			return replyOf(d.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {"made-up"}, "redirect_uri": {callback}, "client_id": {"spa"}, "code_verifier": {strings.Repeat("v", 43)}}, withProofs("", "", p)))
		}, issuer.CodeInvalidGrant},
		{"client_credentials without credentials", func(p string) reply {
			return replyOf(d.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, withProofs("", "", p)))
		}, issuer.CodeInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := d.proof(t, d.keyB, http.MethodPost, "/token", "", "")
			for i := range 2 {
				r := tt.send(p)
				if r.resp.StatusCode < 400 || oauthError(t, r.resp, r.body) != tt.code {
					t.Fatalf("sending %d: %d %s, want %s: the proof was recorded", i+1, r.resp.StatusCode, r.body, tt.code)
				}
			}
		})
	}
	// A proof that came with a granted request is remembered.
	p := d.proof(t, d.keyA, http.MethodPost, "/token", "", "")
	d.wantBound(t, d.clientToken(t, "svc", d.svcSecret, p), d.keyA)
	wantError(t, d.clientToken(t, "svc", d.svcSecret, p), http.StatusBadRequest, issuer.CodeInvalidDPoPProof)
}
