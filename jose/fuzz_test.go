package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The fuzz targets below run their seed corpora in testdata/fuzz as
// ordinary tests; TestFuzzSeeds (fuzzseeds_test.go) writes those corpora.
// Run one target for a while with, for example:
//
//	go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=60s ./jose

// fuzzKeySet is the key set the token targets verify against: every test
// key, public halves only, plus the shared secret.
func fuzzKeySet(tb testing.TB) *JWKS {
	tb.Helper()
	set := &JWKS{}
	for _, alg := range Algorithms() {
		key := signingKey(tb, alg)
		k := verifyingJWK(tb, key, alg)
		k.KeyID = string(alg)
		set.Keys = append(set.Keys, k)
	}
	return set
}

// FuzzParse checks that Parse and ParseClaims never panic and that what
// Parse accepts is consistent: a known algorithm, exactly three segments of
// canonical base64url that re-encode to the input.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string) {
		j, err := Parse(token)
		if err != nil {
			if j != nil {
				t.Fatal("a JWS and an error")
			}
			if !isCategory(err) {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if len(token) > DefaultMaxTokenSize {
			t.Fatalf("accepted %d bytes", len(token))
		}
		if j.Header.Algorithm.index() < 0 {
			t.Fatalf("accepted alg %q", j.Header.Algorithm)
		}
		if j.refused != 0 {
			t.Fatalf("accepted refused parameters %b", j.refused)
		}
		// Strict base64url: the segments re-encode to the token.
		h64, _, _ := strings.Cut(token, ".")
		again := string(j.signingInput) + "." + b64.EncodeToString(j.signature)
		if again != token || !strings.HasPrefix(token, h64+"."+b64.EncodeToString(j.payload)+".") {
			t.Fatalf("segments do not re-encode to the token")
		}
		if c, err := ParseClaims(j.UnsafePayload()); err == nil {
			if _, err := c.MarshalJSON(); err != nil && !strings.Contains(err.Error(), "duplicate") {
				t.Fatalf("parsed claims do not marshal: %v", err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseClaims: %v is not ErrMalformed", err)
		}
	})
}

// FuzzVerifyJWT verifies arbitrary tokens against the test keys with every
// algorithm allowed. Whatever it accepts must also pass the standard
// library's own check of the signature, and its policy.
func FuzzVerifyJWT(f *testing.F) {
	set := fuzzKeySet(f)
	all := mustAlgs(f, Algorithms()...)
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := VerifyJWT(token, set, all, &Policy{Now: testNow})
		// VerifyJWT decodes on its stack and reads header and payload
		// from one string; the exported steps one by one must agree.
		stepTok, stepErr := verifyInSteps(token, set, all, &Policy{Now: testNow})
		if (err == nil) != (stepErr == nil) || err != nil && err.Error() != stepErr.Error() {
			t.Fatalf("VerifyJWT: %v; Parse, Verify, ParseClaims, Validate: %v", err, stepErr)
		}
		if err != nil {
			if tok != nil {
				t.Fatal("a token and an error")
			}
			if !isCategory(err) {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if !reflect.DeepEqual(tok, stepTok) {
			t.Fatalf("VerifyJWT read %+v, the steps %+v", tok, stepTok)
		}
		j, err := Parse(token)
		if err != nil {
			t.Fatalf("verified but does not parse: %v", err)
		}
		if !tok.Key.Accepts(tok.Header.Algorithm) {
			t.Fatalf("key %q used with %s", tok.Key.KeyID, tok.Header.Algorithm)
		}
		if !stdlibVerify(tok.Key.Key, tok.Header.Algorithm, j.signingInput, j.signature) {
			t.Fatalf("accepted a signature the standard library refuses: %q", token)
		}
		if tok.Claims.Expiry == 0 || tok.Claims.Expiry.Time().Before(testNow()) {
			t.Fatalf("accepted exp %d", tok.Claims.Expiry)
		}
	})
}

// verifyInSteps is VerifyJWT through the exported steps.
func verifyInSteps(token string, keys KeySet, algs AlgorithmSet, policy *Policy) (*Token, error) {
	j, err := Parse(token)
	if err != nil {
		return nil, err
	}
	key, err := j.Verify(keys, algs)
	if err != nil {
		return nil, err
	}
	c, err := ParseClaims(j.UnsafePayload())
	if err != nil {
		return nil, err
	}
	if err := policy.Validate(&j.Header, c); err != nil {
		return nil, err
	}
	return &Token{Header: j.Header, Claims: c, Key: key}, nil
}

// stdlibVerify is an independent check of a JWS signature.
func stdlibVerify(key any, alg Algorithm, input, sig []byte) bool {
	var h []byte
	if hf := alg.Hash(); hf != 0 {
		hh := hf.New()
		hh.Write(input)
		h = hh.Sum(nil)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k, alg.Hash(), h, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, alg.Hash(), h, sig) == nil
	case *ecdsa.PublicKey:
		n := len(sig) / 2
		if n == 0 || len(sig) != 2*((k.Curve.Params().BitSize+7)/8) {
			return false
		}
		return ecdsa.VerifyASN1(k, h, appendDERSig(nil, sig[:n], sig[n:]))
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, input, sig)
	case SharedSecret:
		mac := hmac.New(alg.Hash().New, k)
		mac.Write(input)
		return hmac.Equal(mac.Sum(nil), sig)
	}
	return false
}

// FuzzParseJWK checks that ParseJWK never panics and that every key it
// accepts writes back to JSON that parses to the same key.
func FuzzParseJWK(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseJWK(data)
		if err != nil {
			if !isCategory(err) {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if err := checkKey(k.Key); err != nil {
			t.Fatalf("accepted an invalid key: %v", err)
		}
		checkJWKRoundTrip(t, k)
	})
}

func checkJWKRoundTrip(t *testing.T, k *JWK) {
	t.Helper()
	out, err := k.MarshalJSON()
	if err != nil {
		t.Fatalf("accepted key does not marshal: %v", err)
	}
	back, err := ParseJWK(out)
	if err != nil {
		t.Fatalf("marshaled key does not parse: %v\n%s", err, out)
	}
	if back.KeyID != k.KeyID || back.Algorithm != k.Algorithm || !sameKey(back.Key, k.Key) {
		t.Fatalf("round trip changed the key:\n%s", out)
	}
	tp1, err1 := k.Thumbprint()
	tp2, err2 := back.Thumbprint()
	if err1 != nil || err2 != nil || tp1 != tp2 {
		t.Fatalf("thumbprints %q, %q (%v, %v)", tp1, tp2, err1, err2)
	}
	if _, isSecret := k.Key.(SharedSecret); !isSecret {
		if _, err := k.Public(); err != nil {
			t.Fatalf("Public: %v", err)
		}
	}
}

// FuzzParseJWKS checks that ParseJWKS never panics, never returns private
// material, and that the keys it accepts write back to an equal set.
func FuzzParseJWKS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseJWKS(data)
		if err != nil {
			if !isCategory(err) {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if len(set.Keys)+len(set.Skipped) > MaxJWKSKeys {
			t.Fatalf("%d members", len(set.Keys)+len(set.Skipped))
		}
		for _, k := range set.Keys {
			if !k.IsPublic() {
				t.Fatalf("a public set returned a %T", k.Key)
			}
			checkJWKRoundTrip(t, k)
			if got := set.Lookup(k.KeyID); !containsKey(got, k) {
				t.Fatalf("Lookup(%q) misses a key", k.KeyID)
			}
		}
		out, err := set.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJWKS(out)
		if err != nil || len(back.Keys) != len(set.Keys) || len(back.Skipped) != 0 {
			t.Fatalf("round trip: %v\n%s", err, out)
		}
	})
}

// FuzzParseKeyPEM checks that ParseKeyPEM never panics and that every key it
// accepts is valid and writes back to PEM that parses to the same key.
func FuzzParseKeyPEM(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseKeyPEM(data)
		if err != nil {
			if !isCategory(err) {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if err := checkKey(key); err != nil {
			t.Fatalf("accepted an invalid key: %v", err)
		}
		pubPEM, err := MarshalPublicKeyPEM(key)
		if err != nil {
			t.Fatalf("MarshalPublicKeyPEM: %v", err)
		}
		pub, err := ParseKeyPEM(pubPEM)
		if err != nil {
			t.Fatalf("written public key does not parse: %v", err)
		}
		want, _ := PublicKey(key)
		if !sameKey(pub, want) {
			t.Fatal("public key changed in a PEM round trip")
		}
		if _, isPrivate := key.(crypto.Signer); isPrivate {
			privPEM, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatalf("MarshalPrivateKeyPEM: %v", err)
			}
			priv, err := ParseKeyPEM(privPEM)
			if err != nil || !sameKey(priv, key) {
				t.Fatalf("private key changed in a PEM round trip: %v", err)
			}
		}
	})
}

// isCategory reports whether err wraps one of the package's categories.
func isCategory(err error) bool {
	for _, c := range categories() {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

// sameKey compares keys of any supported type.
func sameKey(a, b any) bool {
	if s, ok := a.(SharedSecret); ok {
		t, ok := b.(SharedSecret)
		return ok && bytes.Equal(s, t)
	}
	switch k := a.(type) {
	case interface{ Equal(crypto.PrivateKey) bool }:
		return k.Equal(b)
	case interface{ Equal(crypto.PublicKey) bool }:
		return k.Equal(b)
	}
	return false
}

func containsKey(list []*JWK, k *JWK) bool {
	for _, m := range list {
		if m == k {
			return true
		}
	}
	return false
}
