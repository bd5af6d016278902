package server

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// dpopStack is an oidcStack with a fake clock, a client_credentials client
// "svc" and one "strict" that requires DPoP, and two DPoP keys.
type dpopStack struct {
	*oidcStack
	clock                *fakeClock
	svcSecret, strictSec string
	keyA, keyB           *dpop.ProofSigner
}

func newDPoPStack(tb testing.TB, nonces func(now func() time.Time) *dpop.Nonces) *dpopStack {
	tb.Helper()
	clk := newFakeClock()
	opt := stackOptions{now: clk.Now}
	if nonces != nil {
		opt.dpopNonces = nonces(clk.Now)
	}
	st := newStack(tb, opt)
	st.addUser(tb, "alice", "correct horse battery staple")
	grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	st.addClient(tb, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants})
	web := st.addClient(tb, keyward.Client{ID: "web", RedirectURIs: []string{callback}, GrantTypes: grants})
	d := &dpopStack{oidcStack: &oidcStack{stack: st, secret: web}, clock: clk}
	d.svcSecret = st.addClient(tb, keyward.Client{ID: "svc", GrantTypes: []string{issuer.GrantClientCredentials}, Scopes: []string{"read"}})
	d.strictSec = st.addClient(tb, keyward.Client{ID: "strict", GrantTypes: []string{issuer.GrantClientCredentials}, Scopes: []string{"read"}, RequireDPoP: true})
	d.keyA = proofSigner(tb, staticKey(tb, "p256.pem"), clk.Now)
	d.keyB = proofSigner(tb, staticKey(tb, "ed25519.pem"), clk.Now)
	return d
}

func proofSigner(tb testing.TB, key crypto.Signer, now func() time.Time) *dpop.ProofSigner {
	tb.Helper()
	s, err := dpop.NewProofSigner(key, "", now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// proof signs a proof with s for method to the stack's path.
func (d *dpopStack) proof(tb testing.TB, s *dpop.ProofSigner, method, path, token, nonce string) string {
	tb.Helper()
	u, err := url.Parse(d.srv.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := s.Sign(method, u, token, nonce)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// rawProof signs any claims as a proof with the P-256 test key: the proofs
// that ProofSigner would never make.
func rawProof(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	jwk, err := jose.NewJWK(staticKey(tb, "p256.pem").Public(), "")
	if err != nil {
		tb.Fatal(err)
	}
	return signProof(tb, map[string]any{"typ": dpop.ProofType, "alg": "ES256", "jwk": jwk}, claims)
}

// signProof signs header and claims with ES256 and the P-256 test key as
// they are, or with HS256 under the key "k"*32 when the header says so.
func signProof(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	if header["alg"] == "HS256" {
		m := hmac.New(sha256.New, bytes.Repeat([]byte("k"), 32))
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	sum := sha256.Sum256([]byte(input))
	r, sg, err := ecdsa.Sign(rand.Reader, staticKey(tb, "p256.pem").(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// withProofs sets the DPoP headers of a request, and Basic authentication
// when id is not empty.
func withProofs(id, secret string, proofs ...string) func(*http.Request) {
	return func(r *http.Request) {
		if id != "" {
			basic(id, secret)(r)
		}
		for _, p := range proofs {
			r.Header.Add(dpop.Header, p)
		}
	}
}

// reply is an answer with its body read.
type reply struct {
	resp *http.Response
	body []byte
}

func replyOf(resp *http.Response, b []byte) reply { return reply{resp, b} }

// clientToken asks for a client_credentials token of client id with proofs.
func (d *dpopStack) clientToken(tb testing.TB, id, secret string, proofs ...string) reply {
	tb.Helper()
	return replyOf(d.postForm(tb, "/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, withProofs(id, secret, proofs...)))
}

// wantBound checks that a 200 token response carries an access token
// bound to the key of s (nil: a bearer token), as package dpop reads it.
func (d *dpopStack) wantBound(tb testing.TB, r reply, s *dpop.ProofSigner) issuer.TokenResponse {
	tb.Helper()
	resp, b := r.resp, r.body
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("token request: %d %s", resp.StatusCode, b)
	}
	tr := decodeToken(tb, resp, b)
	set, algs := d.keys.KeySet()
	tok, err := jose.VerifyJWT(tr.AccessToken, set, algs, &jose.Policy{Types: []string{issuer.AccessTokenType}, Now: d.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	jkt, err := dpop.BoundJKT(tok.Claims)
	wantJKT, wantType := "", issuer.TokenTypeBearer
	if s != nil {
		wantJKT, wantType = s.JKT(), issuer.TokenTypeDPoP
	}
	if err != nil || jkt != wantJKT || tr.TokenType != wantType {
		tb.Fatalf("token bound to %q (%v) with token_type %q, want %q and %q", jkt, err, tr.TokenType, wantJKT, wantType)
	}
	return tr
}

// wantError checks an error answer's status and code.
func wantError(tb testing.TB, r reply, status int, code string) {
	tb.Helper()
	resp, b := r.resp, r.body
	if resp.StatusCode != status || oauthError(tb, resp, b) != code {
		tb.Fatalf("answer %d %s, want %d %s", resp.StatusCode, b, status, code)
	}
}

// TestDPoPTokenProofs is the attack table of proofs at /token: each bad
// proof is refused with 400 invalid_dpop_proof (RFC 9449 §5) and no token.
func TestDPoPTokenProofs(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	now := d.clock.Now().Unix()
	tokenURL := d.srv.URL + "/token"
	jti := 0
	claims := func(mutate func(map[string]any)) string {
		jti++
		c := map[string]any{"jti": fmt.Sprint("raw-", jti), "htm": "POST", "htu": tokenURL, "iat": now}
		mutate(c)
		return rawProof(t, c)
	}
	old := proofSigner(t, staticKey(t, "p256.pem"), func() time.Time { return d.clock.Now().Add(-5 * time.Minute) })
	future := proofSigner(t, staticKey(t, "p256.pem"), func() time.Time { return d.clock.Now().Add(5 * time.Minute) })
	replayed := d.proof(t, d.keyA, http.MethodPost, "/token", "", "")
	d.wantBound(t, d.clientToken(t, "svc", d.svcSecret, replayed), d.keyA)

	tests := []struct {
		name   string
		proofs []string
	}{
		{"wrong htm", []string{d.proof(t, d.keyA, http.MethodGet, "/token", "", "")}},
		{"another path", []string{d.proof(t, d.keyA, http.MethodPost, "/userinfo", "", "")}},
		{"another host", []string{claims(func(c map[string]any) { c["htu"] = "https://evil.example/token" })}},
		{"htu with a query", []string{claims(func(c map[string]any) { c["htu"] = tokenURL + "?x=1" })}},
		{"the request's own URL, not the issuer's", []string{claims(func(c map[string]any) {
			c["htu"] = strings.Replace(tokenURL, "127.0.0.1", "localhost", 1)
		})}},
		{"iat too old", []string{d.proof(t, old, http.MethodPost, "/token", "", "")}},
		{"iat in the future", []string{d.proof(t, future, http.MethodPost, "/token", "", "")}},
		{"no jti", []string{claims(func(c map[string]any) { delete(c, "jti") })}},
		{"replayed", []string{replayed}},
		{"two DPoP headers", []string{d.proof(t, d.keyA, http.MethodPost, "/token", "", ""), d.proof(t, d.keyB, http.MethodPost, "/token", "", "")}},
		{"not a JWS", []string{"not.a.proof"}},
		{"alg none", []string{noneProof(t, tokenURL, now)}},
		{"HS256", []string{hs256Proof(t, tokenURL, now)}},
		{"private key in jwk", []string{privateJWKProof(t, tokenURL, now)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, d.clientToken(t, "svc", d.svcSecret, tt.proofs...), http.StatusBadRequest, issuer.CodeInvalidDPoPProof)
		})
	}
	// Without a proof, a bearer token.
	d.wantBound(t, d.clientToken(t, "svc", d.svcSecret), nil)
	// A client that requires DPoP gets nothing without a proof.
	wantError(t, d.clientToken(t, "strict", d.strictSec), http.StatusBadRequest, issuer.CodeInvalidDPoPProof)
	d.wantBound(t, d.clientToken(t, "strict", d.strictSec, d.proof(t, d.keyB, http.MethodPost, "/token", "", "")), d.keyB)
	if !strings.Contains(d.logs.String(), "dpop: ") {
		t.Error("the log does not say why proofs were refused")
	}
}

// noneProof is a proof with alg none.
func noneProof(tb testing.TB, htu string, iat int64) string {
	tb.Helper()
	p := rawProof(tb, map[string]any{"jti": "none", "htm": "POST", "htu": htu, "iat": iat})
	hdr, _, _ := strings.Cut(p, ".")
	b, _ := base64.RawURLEncoding.DecodeString(hdr)
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		tb.Fatal(err)
	}
	h["alg"] = "none"
	nb, _ := json.Marshal(h)
	_, rest, _ := strings.Cut(p, ".")
	payload, _, _ := strings.Cut(rest, ".")
	return base64.RawURLEncoding.EncodeToString(nb) + "." + payload + "."
}

// hs256Proof is a proof signed with HS256 under a key given in its own
// header.
func hs256Proof(tb testing.TB, htu string, iat int64) string {
	tb.Helper()
	return signProof(tb, map[string]any{"typ": dpop.ProofType, "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32))}},
		map[string]any{"jti": "hs", "htm": "POST", "htu": htu, "iat": iat})
}

// privateJWKProof is a proof whose jwk header carries the private key.
func privateJWKProof(tb testing.TB, htu string, iat int64) string {
	tb.Helper()
	priv, err := jose.NewJWK(staticKey(tb, "p256.pem"), "")
	if err != nil {
		tb.Fatal(err)
	}
	return signProof(tb, map[string]any{"typ": dpop.ProofType, "alg": "ES256", "jwk": priv},
		map[string]any{"jti": "priv", "htm": "POST", "htu": htu, "iat": iat})
}

// signInBound runs the login for client "spa" with the extra authorization
// parameters and returns the code.
func (d *dpopStack) signInBound(tb testing.TB, verifier string, extra url.Values) string {
	tb.Helper()
	hc := browser(tb, d.stack)
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	resp, page := get(tb, hc, d.srv.URL+"/authorize?"+q.Encode())
	if resp.StatusCode == http.StatusOK {
		f := loginForm(tb, page)
		f.Set("username", "alice")
		f.Set("password", "correct horse battery staple")
		resp, page = postLogin(tb, hc, d.stack, f)
	}
	return codeFrom(tb, d.stack, resp, page, "s")
}

// redeem exchanges a code of "spa" with proofs.
func (d *dpopStack) redeem(tb testing.TB, code, verifier string, proofs ...string) reply {
	tb.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "client_id": {"spa"}, "code_verifier": {verifier}}
	return replyOf(d.postForm(tb, "/token", f, withProofs("", "", proofs...)))
}

// refresh refreshes a token of "spa" with proofs.
func (d *dpopStack) refresh(tb testing.TB, token string, proofs ...string) reply {
	tb.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"spa"}}
	return replyOf(d.postForm(tb, "/token", f, withProofs("", "", proofs...)))
}

// TestDPoPPublicClientOverHTTP: a code requested with dpop_jkt is redeemed
// only with a proof of that key, and the public client's refresh token is
// bound to it: a refresh with another key or without a proof is refused.
func TestDPoPPublicClientOverHTTP(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	tp := func(s *dpop.ProofSigner) string { return d.proof(t, s, http.MethodPost, "/token", "", "") }
	v := newVerifier()
	bound := url.Values{"dpop_jkt": {d.keyA.JKT()}}
	wantError(t, d.redeem(t, d.signInBound(t, v, bound), v, tp(d.keyB)), http.StatusBadRequest, issuer.CodeInvalidGrant)
	wantError(t, d.redeem(t, d.signInBound(t, v, bound), v), http.StatusBadRequest, issuer.CodeInvalidGrant)
	tr := d.wantBound(t, d.redeem(t, d.signInBound(t, v, bound), v, tp(d.keyA)), d.keyA)

	wantError(t, d.refresh(t, tr.RefreshToken, tp(d.keyB)), http.StatusBadRequest, issuer.CodeInvalidGrant)
	wantError(t, d.refresh(t, tr.RefreshToken), http.StatusBadRequest, issuer.CodeInvalidGrant)
	tr = d.wantBound(t, d.refresh(t, tr.RefreshToken, tp(d.keyA)), d.keyA)
	d.wantBound(t, d.refresh(t, tr.RefreshToken, tp(d.keyA)), d.keyA)

	// A malformed dpop_jkt is redirected as invalid_request.
	hc := browser(t, d.stack)
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "state": {"s"},
		"code_challenge": {challenge(v)}, "code_challenge_method": {"S256"}, "dpop_jkt": {"short"}}
	resp, _ := get(t, hc, d.srv.URL+"/authorize?"+q.Encode())
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("dpop_jkt=short: %d %s", resp.StatusCode, loc)
	}
}

// userinfo calls /userinfo with the Authorization header auth and proofs.
func (d *dpopStack) userinfo(tb testing.TB, auth string, proofs ...string) reply {
	tb.Helper()
	return replyOf(d.do(tb, http.MethodGet, "/userinfo", "", nil, func(r *http.Request) {
		r.Header.Set("Authorization", auth)
		withProofs("", "", proofs...)(r)
	}))
}

// TestDPoPUserinfo: /userinfo takes a bound token with the DPoP scheme and
// a proof of its key (with ath), and refuses it as a bearer token, with a
// proof of another key, or with a proof made for another token.
func TestDPoPUserinfo(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	v := newVerifier()
	tp := d.proof(t, d.keyA, http.MethodPost, "/token", "", "")
	at := d.wantBound(t, d.redeem(t, d.signInBound(t, v, nil), v, tp), d.keyA).AccessToken
	plain := d.wantBound(t, d.redeem(t, d.signInBound(t, v, nil), v), nil).AccessToken
	up := func(s *dpop.ProofSigner, token string) string {
		return d.proof(t, s, http.MethodGet, "/userinfo", token, "")
	}
	replayed := up(d.keyA, at)
	if r := d.userinfo(t, "DPoP "+at, replayed); r.resp.StatusCode != http.StatusOK {
		t.Fatalf("DPoP with a proof: %d %s", r.resp.StatusCode, r.body)
	}
	if r := d.userinfo(t, "Bearer "+plain); r.resp.StatusCode != http.StatusOK {
		t.Fatalf("bearer token: %d %s", r.resp.StatusCode, r.body)
	}
	tests := []struct {
		name       string
		auth       string
		proofs     []string
		code       string
		challenged string // the scheme whose challenge carries the error
	}{
		{"bound token as bearer", "Bearer " + at, nil, issuer.CodeInvalidToken, "Bearer"},
		{"bound token as bearer, with a proof", "Bearer " + at, []string{up(d.keyA, at)}, issuer.CodeInvalidToken, "Bearer"},
		{"DPoP without a proof", "DPoP " + at, nil, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"proof of another key", "DPoP " + at, []string{up(d.keyB, at)}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"proof for another token (ath)", "DPoP " + at, []string{up(d.keyA, plain)}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"proof without ath", "DPoP " + at, []string{up(d.keyA, "")}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"proof for POST", "DPoP " + at, []string{d.proof(t, d.keyA, http.MethodPost, "/userinfo", at, "")}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"proof for /token", "DPoP " + at, []string{d.proof(t, d.keyA, http.MethodGet, "/token", at, "")}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"replayed proof", "DPoP " + at, []string{replayed}, issuer.CodeInvalidDPoPProof, "DPoP"},
		{"bearer token with the DPoP scheme", "DPoP " + plain, []string{up(d.keyA, plain)}, issuer.CodeInvalidToken, "DPoP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := d.userinfo(t, tt.auth, tt.proofs...)
			wantError(t, r, http.StatusUnauthorized, tt.code)
			found := false
			for _, c := range r.resp.Header.Values("WWW-Authenticate") {
				if strings.HasPrefix(c, tt.challenged+" ") && strings.Contains(c, `error="`+tt.code+`"`) {
					found = true
				}
			}
			if !found {
				t.Errorf("WWW-Authenticate %q: no %s challenge with error %q", r.resp.Header.Values("WWW-Authenticate"), tt.challenged, tt.code)
			}
		})
	}
	r := d.userinfo(t, "")
	if ch := r.resp.Header.Values("WWW-Authenticate"); r.resp.StatusCode != http.StatusUnauthorized || len(ch) != 2 ||
		!strings.HasPrefix(ch[1], "DPoP ") || !strings.Contains(ch[1], `algs="`) {
		t.Errorf("no token: %d, WWW-Authenticate %q", r.resp.StatusCode, ch)
	}
}

// TestDPoPNonces: with server nonces on, a proof without one, or with a
// stale one, is answered use_dpop_nonce with a fresh nonce, which the retry
// carries; a replica sharing the secret accepts the nonces of the other.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	const period = time.Minute
	var clk func() time.Time
	d := newDPoPStack(t, func(now func() time.Time) *dpop.Nonces {
		clk = now
		n, err := dpop.NewNonces(secret, period, now)
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
	tp := func(nonce string) string { return d.proof(t, d.keyA, http.MethodPost, "/token", "", nonce) }

	r := d.clientToken(t, "svc", d.svcSecret, tp(""))
	wantError(t, r, http.StatusBadRequest, issuer.CodeUseDPoPNonce)
	nonce := r.resp.Header.Get(dpop.NonceHeader)
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	wantError(t, d.clientToken(t, "svc", d.svcSecret, tp("not-our-nonce")), http.StatusBadRequest, issuer.CodeUseDPoPNonce)
	r = d.clientToken(t, "svc", d.svcSecret, tp(nonce))
	d.wantBound(t, r, d.keyA)
	if r.resp.Header.Get(dpop.NonceHeader) == "" {
		t.Error("a token response without a DPoP-Nonce header")
	}
	// Bearer requests need no nonce.
	d.wantBound(t, d.clientToken(t, "svc", d.svcSecret), nil)

	// Another replica, sharing the secret, accepts the nonce.
	n2, err := dpop.NewNonces(secret, period, clk)
	if err != nil {
		t.Fatal(err)
	}
	replica, err := New(Config{Issuer: d.issuer, Store: d.store, Now: clk, DPoPNonces: n2})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, d.srv.URL+"/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	withProofs("svc", d.svcSecret, tp(nonce))(req)
	rec := httptest.NewRecorder()
	replica.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("the replica refused the other's nonce: %d %s", rec.Code, rec.Body)
	}

	// /userinfo requires the nonce too.
	v := newVerifier()
	ut := d.wantBound(t, d.redeem(t, d.signInBound(t, v, nil), v, tp(nonce)), d.keyA).AccessToken
	up := func(nonce string) string { return d.proof(t, d.keyA, http.MethodGet, "/userinfo", ut, nonce) }
	r = d.userinfo(t, "DPoP "+ut, up(""))
	wantError(t, r, http.StatusUnauthorized, issuer.CodeUseDPoPNonce)
	if r.resp.Header.Get(dpop.NonceHeader) == "" || !strings.Contains(strings.Join(r.resp.Header.Values("WWW-Authenticate"), "\n"), `DPoP realm="keyward", algs=`) {
		t.Errorf("use_dpop_nonce at /userinfo: headers %v", r.resp.Header)
	}
	if r := d.userinfo(t, "DPoP "+ut, up(nonce)); r.resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo with the nonce: %d %s", r.resp.StatusCode, r.body)
	}

	// Two periods later the nonce is stale.
	d.clock.Add(2 * period)
	wantError(t, d.clientToken(t, "svc", d.svcSecret, tp(nonce)), http.StatusBadRequest, issuer.CodeUseDPoPNonce)
}

// TestDPoPDiscoveryAndIntrospection: discovery names the proof algorithms,
// and introspection the binding of a token.
func TestDPoPDiscoveryAndIntrospection(t *testing.T) {
	t.Parallel()
	d := newDPoPStack(t, nil)
	resp, b := d.do(t, http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	var md struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(b, &md, json.RejectUnknownMembers(false)); err != nil || resp.StatusCode != http.StatusOK ||
		len(md.Algs) == 0 || !slices.Contains(md.Algs, "ES256") || slices.Contains(md.Algs, "HS256") {
		t.Fatalf("discovery: %d %s (%v)", resp.StatusCode, b, err)
	}
	at := d.wantBound(t, d.clientToken(t, "svc", d.svcSecret, d.proof(t, d.keyA, http.MethodPost, "/token", "", "")), d.keyA).AccessToken
	resp, b = d.postForm(t, "/introspect", url.Values{"token": {at}}, basic("svc", d.svcSecret))
	var in struct {
		Active    bool              `json:"active"`
		TokenType string            `json:"token_type"`
		Cnf       map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal(b, &in, json.RejectUnknownMembers(false)); err != nil || !in.Active ||
		in.TokenType != issuer.TokenTypeDPoP || in.Cnf["jkt"] != d.keyA.JKT() {
		t.Fatalf("introspection: %d %s (%v)", resp.StatusCode, b, err)
	}
}
