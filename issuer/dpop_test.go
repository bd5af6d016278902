package issuer

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// Thumbprints of two DPoP keys: the issuer takes them from the proofs its
// caller checked, so any 43 base64url characters stand for a key here.
var (
	jktA = s256("key A")
	jktB = s256("key B")
)

// accessClaims verifies an access token issued by f and returns its claims.
func (f *fixture) accessClaims(t *testing.T, token string) *jose.Claims {
	t.Helper()
	set, algs := f.keys.KeySet()
	tok, err := jose.VerifyJWT(token, set, algs, &jose.Policy{Types: []string{AccessTokenType}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Claims
}

// wantBound checks that resp holds an access token bound to jkt (empty: a
// bearer token) with the matching token_type.
func (f *fixture) wantBound(t *testing.T, resp *TokenResponse, jkt string) {
	t.Helper()
	wantType := TokenTypeBearer
	if jkt != "" {
		wantType = TokenTypeDPoP
	}
	if got, err := f.accessClaims(t, resp.AccessToken).ConfirmationJKT(); err != nil || got != jkt || resp.TokenType != wantType {
		t.Fatalf("access token bound to %q with token_type %q, want %q and %q", got, resp.TokenType, jkt, wantType)
	}
}

// dpopFixture is codeFixture with a confidential client "web" of the code
// flow and a confidential client "svc" of client_credentials that requires
// DPoP, and a session of the user.
func dpopFixture(t *testing.T, b backend) (*fixture, keyward.Session, map[string]keyward.Client) {
	t.Helper()
	f, _, spa := codeFixture(t, b, nil)
	web := keyward.Client{ID: "web", SecretHash: HashClientSecret("web-secret"), RedirectURIs: []string{"https://web.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}}
	svc := keyward.Client{ID: "svc", SecretHash: HashClientSecret("svc-secret"), GrantTypes: []string{GrantClientCredentials},
		Scopes: []string{"read"}, RequireDPoP: true}
	strict := keyward.Client{ID: "strict", Public: true, RedirectURIs: []string{"https://strict.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, RequireDPoP: true}
	for _, c := range []keyward.Client{web, svc, strict} {
		if err := f.store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	_, sess, err := f.issuer.StartSession(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
	if err != nil {
		t.Fatal(err)
	}
	return f, sess, map[string]keyward.Client{"spa": spa, "web": web, "svc": svc, "strict": strict}
}

// codeBound is fixture.code with a dpop_jkt.
func (f *fixture) codeBound(t *testing.T, c keyward.Client, s keyward.Session, jkt string) string {
	t.Helper()
	req := AuthorizeRequest{Client: c, RedirectURI: c.RedirectURIs[0], Scope: "openid",
		CodeChallenge: s256(testVerifier), CodeChallengeMethod: "S256", DPoPJKT: jkt}
	granted, err := f.issuer.CheckAuthorize(req)
	if err != nil {
		t.Fatal(err)
	}
	code, err := f.issuer.IssueCode(t.Context(), req, granted, s)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// exchange redeems a code of client c (authenticated when confidential)
// with a proof of the key jkt, empty for none.
func (f *fixture) exchange(t *testing.T, c keyward.Client, code, jkt string) (*TokenResponse, error) {
	t.Helper()
	req := CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, DPoPJKT: jkt}
	if c.Public {
		req.ClientID = c.ID
	} else {
		req.Client = &c
	}
	return f.issuer.ExchangeCode(t.Context(), req)
}

// refresh refreshes a token of client c with a proof of the key jkt.
func (f *fixture) refresh(t *testing.T, c keyward.Client, token, jkt string) (*TokenResponse, error) {
	t.Helper()
	req := RefreshRequest{Token: token, DPoPJKT: jkt}
	if c.Public {
		req.ClientID = c.ID
	} else {
		req.Client = &c
	}
	return f.issuer.Refresh(t.Context(), req)
}

// tokenOK returns a function that passes on a token response and fails t
// on an error.
func tokenOK(t *testing.T) func(*TokenResponse, error) *TokenResponse {
	return func(resp *TokenResponse, err error) *TokenResponse {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// TestDPoPPublicClientBinding: a public client's access and refresh tokens
// are bound to the key of the proof they were issued with, and a refresh
// with another key, or without a proof, is refused before anything is
// written, so that the right key still refreshes afterwards.
func TestDPoPPublicClientBinding(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			spa := cs["spa"]
			resp := ok(f.exchange(t, spa, f.code(t, spa, sess, "openid"), jktA))
			f.wantBound(t, resp, jktA)

			for _, tt := range []struct{ name, jkt string }{{"another key", jktB}, {"no proof", ""}} {
				_, err := f.refresh(t, spa, resp.RefreshToken, tt.jkt)
				wantCode(t, err, CodeInvalidGrant)
			}
			next := ok(f.refresh(t, spa, resp.RefreshToken, jktA))
			f.wantBound(t, next, jktA)
			// The successor is bound to the same key.
			_, err := f.refresh(t, spa, next.RefreshToken, jktB)
			wantCode(t, err, CodeInvalidGrant)
			f.wantBound(t, ok(f.refresh(t, spa, next.RefreshToken, jktA)), jktA)

			// Without a proof the tokens are bearer tokens, and the first
			// refresh with a proof binds the family from then on.
			plain := ok(f.exchange(t, spa, f.code(t, spa, sess, "openid"), ""))
			f.wantBound(t, plain, "")
			plain = ok(f.refresh(t, spa, plain.RefreshToken, ""))
			f.wantBound(t, plain, "")
			bound := ok(f.refresh(t, spa, plain.RefreshToken, jktB))
			f.wantBound(t, bound, jktB)
			_, err = f.refresh(t, spa, bound.RefreshToken, "")
			wantCode(t, err, CodeInvalidGrant)
		})
	}
}

// TestDPoPConfidentialClient: a confidential client's refresh tokens are
// not bound (RFC 9449 §5), but each access token is bound to the proof
// presented with its request.
func TestDPoPConfidentialClient(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			web := cs["web"]
			resp := ok(f.exchange(t, web, f.code(t, web, sess, "openid"), jktA))
			f.wantBound(t, resp, jktA)
			resp = ok(f.refresh(t, web, resp.RefreshToken, jktB))
			f.wantBound(t, resp, jktB)
			resp = ok(f.refresh(t, web, resp.RefreshToken, ""))
			f.wantBound(t, resp, "")
		})
	}
}

// TestDPoPCodeBinding: a code requested with dpop_jkt is redeemed only with
// a proof of that key (RFC 9449 §10).
func TestDPoPCodeBinding(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			for _, c := range []keyward.Client{cs["spa"], cs["web"]} {
				for _, tt := range []struct{ name, jkt string }{{"another key", jktB}, {"no proof", ""}} {
					_, err := f.exchange(t, c, f.codeBound(t, c, sess, jktA), tt.jkt)
					wantCode(t, err, CodeInvalidGrant)
				}
				f.wantBound(t, ok(f.exchange(t, c, f.codeBound(t, c, sess, jktA), jktA)), jktA)
			}
			_, err := f.issuer.CheckAuthorize(AuthorizeRequest{Client: cs["spa"], RedirectURI: "https://app.example/cb",
				CodeChallenge: s256(testVerifier), CodeChallengeMethod: "S256", DPoPJKT: "not-a-thumbprint"})
			wantCode(t, err, CodeInvalidRequest)
		})
	}
}

// TestDPoPRequired: a client registered with dpop_bound_access_tokens
// gets no token without a proof, on any grant.
func TestDPoPRequired(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			ctx := t.Context()
			_, err := f.issuer.ClientCredentials(ctx, cs["svc"], "read")
			wantCode(t, err, CodeInvalidDPoPProof)
			f.wantBound(t, ok(f.issuer.ClientCredentialsDPoP(ctx, cs["svc"], "read", jktA)), jktA)

			strict := cs["strict"]
			_, err = f.exchange(t, strict, f.code(t, strict, sess, "openid"), "")
			wantCode(t, err, CodeInvalidDPoPProof)
			resp := ok(f.exchange(t, strict, f.code(t, strict, sess, "openid"), jktA))
			f.wantBound(t, resp, jktA)

			// A family bound before the client was required to use DPoP:
			// the requirement is checked first.
			_, err = f.refresh(t, strict, resp.RefreshToken, "")
			wantCode(t, err, CodeInvalidDPoPProof)
			f.wantBound(t, ok(f.refresh(t, strict, resp.RefreshToken, jktA)), jktA)
		})
	}
}

// TestDPoPUserInfoAndIntrospection: a bound token presented as a bearer
// token, or with a proof of another key, gets no user info; introspection
// describes the binding.
func TestDPoPUserInfoAndIntrospection(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			ctx := t.Context()
			web := cs["web"]
			bound := ok(f.exchange(t, web, f.code(t, web, sess, "openid"), jktA))
			plain := ok(f.exchange(t, web, f.code(t, web, sess, "openid"), ""))
			tests := []struct {
				name       string
				token, jkt string
				want       string // error code, empty for success
			}{
				{name: "bound token as bearer", token: bound.AccessToken, want: CodeInvalidToken},
				{name: "bound token, proof of another key", token: bound.AccessToken, jkt: jktB, want: CodeInvalidDPoPProof},
				{name: "bound token, proof of its key", token: bound.AccessToken, jkt: jktA},
				{name: "bearer token", token: plain.AccessToken},
				{name: "bearer token with a proof", token: plain.AccessToken, jkt: jktB, want: CodeInvalidToken},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					info, err := f.issuer.UserInfoDPoP(ctx, tt.token, tt.jkt)
					if tt.want != "" {
						wantCode(t, err, tt.want)
						return
					}
					if err != nil || info["sub"] == nil {
						t.Fatalf("UserInfoDPoP = %v, %v", info, err)
					}
				})
			}
			if _, err := f.issuer.UserInfo(ctx, bound.AccessToken); err == nil {
				t.Error("UserInfo accepted a bound token without a proof")
			}

			got, err := f.issuer.Introspect(ctx, web, bound.AccessToken)
			if err != nil || !got.Active || got.TokenType != TokenTypeDPoP || got.Confirmation[ConfirmationJKT] != jktA {
				t.Errorf("Introspect(bound) = %+v, %v; want active, DPoP, cnf.jkt %s", got, err, jktA)
			}
			got, err = f.issuer.Introspect(ctx, web, plain.AccessToken)
			if err != nil || !got.Active || got.TokenType != TokenTypeBearer || got.Confirmation != nil {
				t.Errorf("Introspect(bearer) = %+v, %v; want active, Bearer, no cnf", got, err)
			}
		})
	}
}

func TestValidJKT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{jktA, true},
		{"", false},
		{jktA[:42], false},
		{jktA + "A", false},
		{jktA[:42] + "=", false},
		{jktA[:42] + "+", false},
		{strings.Repeat("A", 42) + "E", true},
		// The last character carries bits beyond the 32 bytes.
		{strings.Repeat("A", 42) + "B", false},
	}
	for _, tt := range tests {
		if got := ValidJKT(tt.in); got != tt.want {
			t.Errorf("ValidJKT(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBoundJKT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		extra   map[string]any
		want    string
		wantErr bool
	}{
		{name: "no cnf"},
		{name: "bound", extra: map[string]any{"cnf": map[string]any{"jkt": jktA}}, want: jktA},
		{name: "cnf of another kind", extra: map[string]any{"cnf": map[string]any{"x5t#S256": "x"}}},
		{name: "cnf not an object", extra: map[string]any{"cnf": jktA}, wantErr: true},
		{name: "jkt not a string", extra: map[string]any{"cnf": map[string]any{"jkt": 1.0}}, wantErr: true},
		{name: "empty jkt", extra: map[string]any{"cnf": map[string]any{"jkt": ""}}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := (&jose.Claims{Extra: tt.extra}).ConfirmationJKT()
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: boundJKT = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDPoPNonceKey(t *testing.T) {
	t.Parallel()
	a, err := DPoPNonceKey(testMasterKey)
	if err != nil || len(a) != 32 {
		t.Fatalf("DPoPNonceKey = %x, %v", a, err)
	}
	b, _ := DPoPNonceKey(testMasterKey)
	kb, _ := KnownBrowserKey(testMasterKey)
	if string(a) != string(b) || string(a) == string(kb) {
		t.Error("the nonce key is not stable, or is the known-browser key")
	}
	if _, err := DPoPNonceKey(testMasterKey[:16]); err == nil {
		t.Error("a short master key was accepted")
	}
}

// FuzzValidJKT: a thumbprint ValidJKT accepts is 32 bytes in strict
// unpadded base64url, and encodes back to itself.
func FuzzValidJKT(f *testing.F) {
	for _, s := range []string{jktA, "", strings.Repeat("A", 42) + "B", jktA + "=", "_-" + jktA[2:], strings.Repeat("\xff", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidJKT(s) {
			return
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("ValidJKT(%q) accepted %x, %v", s, b, err)
		}
	})
}
