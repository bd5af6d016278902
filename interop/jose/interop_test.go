package jose_test

import (
	"crypto"
	"encoding/json"
	"slices"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	gojosejwt "github.com/go-jose/go-jose/v4/jwt"
	golangjwt "github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/jose"
)

// Differential tests: tokens signed here verify in go-jose v4 and
// golang-jwt v5, theirs verify here, and key sets written here parse in
// go-jose. The libraries are dependencies of this test module only.

const (
	interopIssuer   = "https://issuer.example"
	interopAudience = "api"
)

// interopClaims is what every library signs and every library must read
// back the same.
func interopClaims() *jose.Claims {
	return &jose.Claims{
		Issuer:   interopIssuer,
		Subject:  "123",
		Audience: jose.Audience{interopAudience},
		Expiry:   jose.NewNumericDate(testNow().Add(time.Hour)),
		IssuedAt: jose.NewNumericDate(testNow()),
		ID:       "jti-1",
		Extra:    map[string]any{"email": "user@example.com", "role": "admin", "userId": 123.0},
	}
}

// checkInteropClaims compares decoded claims with interopClaims.
func checkInteropClaims(t *testing.T, who string, iss, sub string, aud []string, exp, iat int64, extra map[string]any) {
	t.Helper()
	want := interopClaims()
	if iss != want.Issuer || sub != want.Subject || !slices.Equal(aud, want.Audience) || exp != int64(want.Expiry) || iat != int64(want.IssuedAt) {
		t.Errorf("%s read iss=%q sub=%q aud=%q exp=%d iat=%d", who, iss, sub, aud, exp, iat)
	}
	for k, v := range want.Extra {
		if extra[k] != v {
			t.Errorf("%s read %s = %#v, want %#v", who, k, extra[k], v)
		}
	}
}

// verifyingKey returns what the other libraries verify with: the public key,
// or the secret's bytes for HS*.
func verifyingKey(t *testing.T, key any) any {
	t.Helper()
	if s, ok := key.(jose.SharedSecret); ok {
		return []byte(s)
	}
	pub, err := jose.PublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// libSigningKey returns what the other libraries sign with.
func libSigningKey(key any) any {
	if s, ok := key.(jose.SharedSecret); ok {
		return []byte(s)
	}
	return key
}

func TestInteropKeywardToGoJose(t *testing.T) {
	t.Parallel()
	for _, alg := range jose.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			s, err := jose.NewSigner(key, alg, "k1")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.SignJWT("", interopClaims())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := gojosejwt.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			if h := parsed.Headers[0]; h.KeyID != "k1" || h.Algorithm != string(alg) || h.ExtraHeaders["typ"] != "JWT" {
				t.Errorf("go-jose header = %+v", h)
			}
			var std gojosejwt.Claims
			extra := map[string]any{}
			if err := parsed.Claims(verifyingKey(t, key), &std, &extra); err != nil {
				t.Fatalf("go-jose Claims: %v", err)
			}
			if err := std.Validate(gojosejwt.Expected{Issuer: interopIssuer, AnyAudience: gojosejwt.Audience{interopAudience}, Time: testNow()}); err != nil {
				t.Errorf("go-jose Validate: %v", err)
			}
			checkInteropClaims(t, "go-jose", std.Issuer, std.Subject, std.Audience, int64(*std.Expiry), int64(*std.IssuedAt), extra)
			if std.ID != "jti-1" {
				t.Errorf("go-jose jti = %q", std.ID)
			}
		})
	}
}

func TestInteropKeywardToGolangJWT(t *testing.T) {
	t.Parallel()
	for _, alg := range jose.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			s, err := jose.NewSigner(key, alg, "k1")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.SignJWT("", interopClaims())
			if err != nil {
				t.Fatal(err)
			}
			pub := verifyingKey(t, key)
			parsed, err := golangjwt.Parse(tok, func(tk *golangjwt.Token) (any, error) { return pub, nil },
				golangjwt.WithValidMethods([]string{string(alg)}),
				golangjwt.WithIssuer(interopIssuer),
				golangjwt.WithAudience(interopAudience),
				golangjwt.WithExpirationRequired(),
				golangjwt.WithTimeFunc(testNow))
			if err != nil {
				t.Fatalf("golang-jwt Parse: %v", err)
			}
			if parsed.Header["kid"] != "k1" || parsed.Header["typ"] != "JWT" {
				t.Errorf("golang-jwt header = %v", parsed.Header)
			}
			mc := parsed.Claims.(golangjwt.MapClaims)
			aud, _ := mc.GetAudience()
			exp, _ := mc.GetExpirationTime()
			iat, _ := mc.GetIssuedAt()
			iss, _ := mc.GetIssuer()
			sub, _ := mc.GetSubject()
			checkInteropClaims(t, "golang-jwt", iss, sub, aud, exp.Unix(), iat.Unix(), mc)
		})
	}
}

func TestInteropGoJoseToKeyward(t *testing.T) {
	t.Parallel()
	for _, alg := range jose.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(alg), Key: libSigningKey(key)},
				(&gojose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			c := interopClaims()
			std := gojosejwt.Claims{
				Issuer:   c.Issuer,
				Subject:  c.Subject,
				Audience: gojosejwt.Audience(c.Audience),
				Expiry:   gojosejwt.NewNumericDate(c.Expiry.Time()),
				IssuedAt: gojosejwt.NewNumericDate(c.IssuedAt.Time()),
				ID:       c.ID,
			}
			tok, err := gojosejwt.Signed(signer).Claims(std).Claims(c.Extra).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			verifyForeign(t, "go-jose", tok, key, alg)
		})
	}
}

func TestInteropGolangJWTToKeyward(t *testing.T) {
	t.Parallel()
	for _, alg := range jose.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			c := interopClaims()
			mc := golangjwt.MapClaims{
				"iss": c.Issuer, "sub": c.Subject, "aud": []string(c.Audience),
				"exp": int64(c.Expiry), "iat": int64(c.IssuedAt), "jti": c.ID,
			}
			for k, v := range c.Extra {
				mc[k] = v
			}
			tk := golangjwt.NewWithClaims(golangjwt.GetSigningMethod(string(alg)), mc)
			tk.Header["kid"] = "k1"
			tok, err := tk.SignedString(libSigningKey(key))
			if err != nil {
				t.Fatal(err)
			}
			verifyForeign(t, "golang-jwt", tok, key, alg)
		})
	}
}

// verifyForeign verifies a token another library signed with key.
func verifyForeign(t *testing.T, who, tok string, key any, alg jose.Algorithm) {
	t.Helper()
	jk := verifyingJWK(t, key, alg)
	jk.KeyID = "k1"
	got, err := jose.VerifyJWT(tok, &jose.JWKS{Keys: []*jose.JWK{jk}}, mustAlgs(t, alg),
		&jose.Policy{Issuers: []string{interopIssuer}, Audiences: []string{interopAudience}, Types: []string{"JWT"}, Now: testNow})
	if err != nil {
		t.Fatalf("a %s token: %v", who, err)
	}
	c := got.Claims
	if got.Header.KeyID != "k1" || got.Header.Algorithm != alg {
		t.Errorf("header = %+v", got.Header)
	}
	checkInteropClaims(t, "keyward", c.Issuer, c.Subject, c.Audience, int64(c.Expiry), int64(c.IssuedAt), c.Extra)
	if c.ID != "jti-1" {
		t.Errorf("jti = %q", c.ID)
	}
	// The same token with a changed signature byte must not verify.
	b := []byte(tok)
	i := len(b) - 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	if _, err := jose.VerifyJWT(string(b), &jose.JWKS{Keys: []*jose.JWK{jk}}, mustAlgs(t, alg), &jose.Policy{Now: testNow}); err == nil {
		t.Errorf("a tampered %s token verified", who)
	}
}

// TestInteropJWKSToGoJose writes a public key set with every asymmetric key
// type and reads it with go-jose: same key IDs, same keys, same RFC 7638
// thumbprints, and each key verifies a token signed here. Then go-jose
// writes the set and this package reads it back.
func TestInteropJWKSToGoJose(t *testing.T) {
	t.Parallel()
	type entry struct {
		alg jose.Algorithm
		key any
	}
	var entries []entry
	set := &jose.JWKS{}
	for _, alg := range jose.Algorithms() {
		if alg.Symmetric() {
			continue
		}
		key := signingKey(t, alg)
		pub, err := jose.NewJWK(verifyingKey(t, key), alg)
		if err != nil {
			t.Fatal(err)
		}
		pub.KeyID = string(alg) + "-" + pub.KeyID // RSA algorithms share a key
		set.Keys = append(set.Keys, pub)
		entries = append(entries, entry{alg, key})
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var theirs gojose.JSONWebKeySet
	if err := json.Unmarshal(data, &theirs); err != nil {
		t.Fatalf("go-jose cannot read our JWKS: %v\n%s", err, data)
	}
	if len(theirs.Keys) != len(set.Keys) {
		t.Fatalf("go-jose read %d keys, want %d", len(theirs.Keys), len(set.Keys))
	}
	for i, ours := range set.Keys {
		t.Run(string(entries[i].alg), func(t *testing.T) {
			k := theirs.Keys[i]
			if k.KeyID != ours.KeyID || k.Algorithm != string(ours.Algorithm) || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
				t.Errorf("go-jose key %d = kid %q alg %q use %q public %v valid %v", i, k.KeyID, k.Algorithm, k.Use, k.IsPublic(), k.Valid())
			}
			if eq, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(ours.Key) {
				t.Errorf("go-jose key %d differs: %T", i, k.Key)
			}
			tp, err := k.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if mine, _ := ours.Thumbprint(); b64.EncodeToString(tp) != mine {
				t.Errorf("thumbprints differ: go-jose %s, keyward %s", b64.EncodeToString(tp), mine)
			}
			s, err := jose.NewSigner(entries[i].key, entries[i].alg, ours.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.SignJWT("", interopClaims())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := gojosejwt.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(entries[i].alg)})
			if err != nil {
				t.Fatal(err)
			}
			var c gojosejwt.Claims
			if err := parsed.Claims(theirs.Key(ours.KeyID)[0].Key, &c); err != nil {
				t.Errorf("go-jose verify with the parsed JWK: %v", err)
			}
		})
	}
	// And back: go-jose's output reads here to the same keys.
	again, err := json.Marshal(theirs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := jose.ParseJWKS(again)
	if err != nil {
		t.Fatalf("ParseJWKS(go-jose output): %v", err)
	}
	if len(back.Keys) != len(set.Keys) || len(back.Skipped) != 0 {
		t.Fatalf("read back %d keys, skipped %v", len(back.Keys), back.Skipped)
	}
	for i, k := range back.Keys {
		if k.KeyID != set.Keys[i].KeyID || k.Algorithm != set.Keys[i].Algorithm {
			t.Errorf("key %d read back as %q %q", i, k.KeyID, k.Algorithm)
		}
		if eq := k.Key.(interface{ Equal(crypto.PublicKey) bool }); !eq.Equal(set.Keys[i].Key) {
			t.Errorf("key %d read back differs", i)
		}
	}
}

// TestInteropPrivateJWK checks private JWKs both ways: go-jose reads what
// NewJWK writes for a private key, and this package reads go-jose's.
func TestInteropPrivateJWK(t *testing.T) {
	t.Parallel()
	for _, alg := range []jose.Algorithm{jose.RS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			ours, err := jose.NewJWK(key, alg)
			if err != nil {
				t.Fatal(err)
			}
			data, err := ours.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var theirs gojose.JSONWebKey
			if err := theirs.UnmarshalJSON(data); err != nil {
				t.Fatalf("go-jose: %v", err)
			}
			if theirs.IsPublic() || !theirs.Valid() || theirs.KeyID != ours.KeyID {
				t.Errorf("go-jose read public=%v valid=%v kid=%q", theirs.IsPublic(), theirs.Valid(), theirs.KeyID)
			}
			if eq := theirs.Key.(interface{ Equal(crypto.PrivateKey) bool }); !eq.Equal(key) {
				t.Error("go-jose read a different private key")
			}
			again, err := theirs.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := jose.ParseJWK(again)
			if err != nil {
				t.Fatalf("ParseJWK(go-jose output): %v", err)
			}
			if eq := back.Key.(interface{ Equal(crypto.PrivateKey) bool }); !eq.Equal(key) {
				t.Error("read back a different private key")
			}
		})
	}
}
