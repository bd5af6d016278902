package issuer

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// storedByPurpose counts the stored keys by purpose and state.
func storedByPurpose(t *testing.T, store keyward.KeyStore) map[keyward.KeyPurpose]map[keyward.KeyState]int {
	t.Helper()
	keys, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[keyward.KeyPurpose]map[keyward.KeyState]int{}
	for _, k := range keys {
		if out[k.Purpose] == nil {
			out[k.Purpose] = map[keyward.KeyState]int{}
		}
		out[k.Purpose][k.State]++
	}
	return out
}

// TestIDTokenKeysByAlgorithm checks which keys a manager keeps for each
// configured algorithm: RS256 needs no other key; any other algorithm gets
// an RS256 ID-token key beside it, offered first.
func TestIDTokenKeysByAlgorithm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg      jose.Algorithm
		keys     int
		idTokens []jose.Algorithm
	}{
		{alg: jose.RS256, keys: 1, idTokens: []jose.Algorithm{jose.RS256}},
		{alg: jose.ES256, keys: 2, idTokens: []jose.Algorithm{jose.RS256, jose.ES256}},
		{alg: jose.EdDSA, keys: 2, idTokens: []jose.Algorithm{jose.RS256, jose.EdDSA}},
		{alg: jose.PS256, keys: 2, idTokens: []jose.Algorithm{jose.RS256, jose.PS256}},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			store := backends(t)[0].open(t, clk.Now)
			km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: tt.alg,
				RotateEvery: time.Hour, JWKSMaxAge: time.Minute, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if err := km.Step(t.Context()); err != nil {
				t.Fatal(err)
			}
			set, _ := km.KeySet()
			if len(set.Keys) != tt.keys {
				t.Fatalf("%d keys published, want %d", len(set.Keys), tt.keys)
			}
			for _, k := range set.Keys {
				if k.Use != "sig" || k.KeyID == "" || (k.Algorithm != tt.alg && k.Algorithm != jose.RS256) {
					t.Errorf("published key %s: use %q alg %s", k.KeyID, k.Use, k.Algorithm)
				}
			}
			if got := km.IDTokenAlgorithms(); !slices.Equal(got, tt.idTokens) {
				t.Errorf("IDTokenAlgorithms() = %v, want %v", got, tt.idTokens)
			}
			if got := km.AccessTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{tt.alg}) {
				t.Errorf("AccessTokenAlgorithms() = %v, want [%s]", got, tt.alg)
			}
			for _, alg := range tt.idTokens {
				s, err := km.IDTokenSigner(alg)
				if err != nil || s.Algorithm() != alg {
					t.Errorf("IDTokenSigner(%s) = %v, %v", alg, s, err)
				}
			}
			if s, err := km.IDTokenSigner(""); err != nil || s != mustSigner(t, km) {
				t.Errorf("IDTokenSigner(\"\") is not the primary signer: %v", err)
			}
			if _, err := km.IDTokenSigner(jose.ES384); !errors.Is(err, ErrIDTokenAlgorithm) {
				t.Errorf("IDTokenSigner(ES384) = %v, want ErrIDTokenAlgorithm", err)
			}
			if s, _ := km.IDTokenSigner(jose.RS256); tt.alg != jose.RS256 && s.KeyID() == mustSigner(t, km).KeyID() {
				t.Error("RS256 ID tokens are signed by the primary key")
			}
		})
	}
}

// TestIDTokenKeysAlgorithmChange restarts an issuer with another --alg:
// from ES256 to RS256 the ID-token key keeps signing until an RS256
// primary key signs, then retires; from RS256 to ES256 an ID-token key
// signs at once. RS256 is offered at every step.
func TestIDTokenKeysAlgorithmChange(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := backends(t)[0].open(t, clk.Now)
	manager := func(alg jose.Algorithm) *KeyManager {
		km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: alg,
			RotateEvery: time.Hour, JWKSMaxAge: time.Minute, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := km.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if algs := km.IDTokenAlgorithms(); len(algs) == 0 || algs[0] != jose.RS256 {
			t.Fatalf("RS256 is not offered: %v", algs)
		}
		return km
	}
	manager(jose.ES256)
	km := manager(jose.RS256)
	if s := mustSigner(t, km); s.Algorithm() != jose.ES256 {
		t.Fatalf("the ES256 key stopped signing at the restart: %s", s.Algorithm())
	}
	if got := storedByPurpose(t, store)[keyward.KeyPurposeIDToken][keyward.KeyActive]; got != 1 {
		t.Fatalf("%d active ID-token keys while ES256 still signs, want 1", got)
	}
	// One rotation period later an RS256 primary key signs and the
	// ID-token key retires.
	for range 70 {
		clk.Add(time.Minute)
		if err := km.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if algs := km.IDTokenAlgorithms(); len(algs) == 0 || algs[0] != jose.RS256 {
			t.Fatalf("RS256 is not offered at %v: %v", clk.Now(), algs)
		}
	}
	if s := mustSigner(t, km); s.Algorithm() != jose.RS256 {
		t.Fatalf("after a rotation period a %s key signs, want RS256", s.Algorithm())
	}
	byPurpose := storedByPurpose(t, store)[keyward.KeyPurposeIDToken]
	if byPurpose[keyward.KeyActive]+byPurpose[keyward.KeyPending] != 0 {
		t.Fatalf("ID-token keys by state %v, want none pending or active", byPurpose)
	}
	if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.RS256}) {
		t.Fatalf("IDTokenAlgorithms() = %v, want [RS256]", got)
	}
	// And back to ES256: the primary key waits for its rotation, the
	// ID-token key signs at once.
	km = manager(jose.ES256)
	if got := storedByPurpose(t, store)[keyward.KeyPurposeIDToken][keyward.KeyActive]; got != 1 {
		t.Fatalf("%d active ID-token keys after going back to ES256, want 1", got)
	}
	if s := mustIDSigner(t, km); s.KeyID() == mustSigner(t, km).KeyID() {
		t.Fatal("RS256 ID tokens signed by the primary key although an ID-token key is kept")
	}
}

// TestIDTokenKeysStatic covers --signing-key: a static RSA key needs
// nothing else; a static EC key with a store gets stored RS256 ID-token
// keys that rotate; without a store RS256 is not offered.
func TestIDTokenKeysStatic(t *testing.T) {
	t.Parallel()
	t.Run("RSA", func(t *testing.T) {
		t.Parallel()
		store := backends(t)[0].open(t, nil)
		km, err := NewKeyManager(KeyManagerConfig{Static: testKey(t, "rsa2048.pem"), Alg: jose.ES256, Store: store, Sealer: testSealer(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := km.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if keys, _ := store.ListKeys(t.Context()); len(keys) != 0 {
			t.Fatalf("%d keys stored for a static RSA key", len(keys))
		}
		if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.RS256}) {
			t.Fatalf("IDTokenAlgorithms() = %v", got)
		}
	})
	t.Run("EC without a store", func(t *testing.T) {
		t.Parallel()
		km, err := NewKeyManager(KeyManagerConfig{Static: testKey(t, "p256.pem")})
		if err != nil {
			t.Fatal(err)
		}
		if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.ES256}) {
			t.Fatalf("IDTokenAlgorithms() = %v, want only what it can sign", got)
		}
		if _, err := km.IDTokenSigner(jose.RS256); !errors.Is(err, ErrIDTokenAlgorithm) {
			t.Fatalf("IDTokenSigner(RS256) = %v", err)
		}
	})
	t.Run("EC with a store", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		store := backends(t)[1].open(t, clk.Now)
		// A primary key left by an earlier run without --signing-key.
		earlier, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: jose.RS256, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := earlier.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		stale := mustSigner(t, earlier).KeyID()
		static := testKey(t, "p256.pem")
		staticKID, _ := jose.Thumbprint(static)
		km, err := NewKeyManager(KeyManagerConfig{Static: static, Alg: jose.RS256, Store: store, Sealer: testSealer(t),
			RotateEvery: time.Hour, JWKSMaxAge: time.Minute, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.ES256}) {
			t.Fatalf("IDTokenAlgorithms() before the first step = %v", got)
		}
		if err := km.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		first := mustIDSigner(t, km).KeyID()
		if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.RS256, jose.ES256}) {
			t.Fatalf("IDTokenAlgorithms() = %v", got)
		}
		if s := mustSigner(t, km); s.KeyID() != staticKID || s.Algorithm() != jose.ES256 {
			t.Fatalf("primary signer %s/%s, want the static key", s.KeyID(), s.Algorithm())
		}
		if ids := jwksIDs(t, km); len(ids) != 2 || ids[0] != staticKID || ids[1] != first || slices.Contains(ids, stale) {
			t.Fatalf("JWKS %v, want the static key and the ID-token key only", ids)
		}
		for range 70 {
			clk.Add(time.Minute)
			if err := km.Step(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustIDSigner(t, km).KeyID(); got == first {
			t.Fatal("the ID-token key did not rotate with a static primary key")
		}
		if s := mustSigner(t, km); s.KeyID() != staticKID {
			t.Fatal("the static key rotated")
		}
		if _, err := km.Rotate(t.Context(), true); !errors.Is(err, ErrStaticKey) {
			t.Fatalf("Rotate with a static key: %v", err)
		}
		stored := storedByPurpose(t, store)
		if stored[keyward.KeyPurposeIDToken][keyward.KeyActive] != 1 || stored[keyward.KeyPurposePrimary][keyward.KeyActive] != 1 {
			t.Fatalf("stored keys by purpose and state: %v", stored)
		}
	})
}

// TestIDTokenAlgorithmOfClient runs the code flow on an ES256 issuer for
// clients that registered no algorithm, RS256, and one the issuer does not
// offer.
func TestIDTokenAlgorithmOfClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		alg     string
		want    jose.Algorithm
		errCode string
	}{
		{name: "default", alg: "", want: jose.ES256},
		{name: "RS256", alg: "RS256", want: jose.RS256},
		{name: "ES256", alg: "ES256", want: jose.ES256},
		{name: "not offered", alg: "PS384", errCode: CodeUnauthorizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, _, c := codeFixture(t, backends(t)[0], nil)
			ctx := t.Context()
			c.ID, c.IDTokenSignedResponseAlg = "client-"+strings.ToLower(tt.name), tt.alg
			if err := f.store.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			_, sess, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple"})
			if err != nil {
				t.Fatal(err)
			}
			req := AuthorizeRequest{Client: c, RedirectURI: c.RedirectURIs[0], Scope: "openid", Nonce: "n",
				CodeChallenge: s256(testVerifier), CodeChallengeMethod: "S256"}
			_, err = f.issuer.CheckAuthorize(req)
			if tt.errCode != "" {
				wantCode(t, err, tt.errCode)
				if !strings.Contains(err.Error(), "RS256, ES256") {
					t.Errorf("the refusal does not name the offered algorithms: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// The token endpoint checks again: the code may predate a
			// change of keys.
			code, err := f.issuer.IssueCode(ctx, req, "openid", sess)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: c.ID})
			if tt.errCode != "" {
				wantCode(t, err, tt.errCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			set, algs := f.keys.KeySet()
			id, err := jose.VerifyJWT(resp.IDToken, set, algs, &jose.Policy{Issuers: []string{"https://issuer.test"},
				Audiences: []string{c.ID}, Types: []string{IDTokenType}, Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if id.Header.Algorithm != tt.want {
				t.Errorf("ID token signed with %s, want %s", id.Header.Algorithm, tt.want)
			}
			access, err := jose.Parse(resp.AccessToken)
			if err != nil || access.Header.Algorithm != jose.ES256 {
				t.Errorf("access token signed with %s (%v), want ES256 whatever the client's ID-token algorithm", access.Header.Algorithm, err)
			}
		})
	}
}
