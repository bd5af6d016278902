package interop_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// TestNoDefaultAlgorithm checks the claims docs/security.md makes about
// CVE-2022-23540: there is no default algorithm anywhere — the zero
// allowlist verifies nothing, an empty list is an error, "none" is not an
// algorithm, and verifier.New refuses a Config without Algorithms.
func TestNoDefaultAlgorithm(t *testing.T) {
	t.Parallel()
	s := signer(t, jose.RS256)
	tok := accessToken(t, s, time.Now(), time.Minute)
	keys := &jose.JWKS{Keys: []*jose.JWK{publicJWK(t, jose.RS256)}}

	if _, err := jose.VerifyJWT(tok, keys, jose.AlgorithmSet(0), nil); !errors.Is(err, jose.ErrAlgorithmNotAllowed) {
		t.Errorf("zero AlgorithmSet: %v, want ErrAlgorithmNotAllowed", err)
	}
	if _, err := jose.NewAlgorithmSet(); !errors.Is(err, jose.ErrAlgorithmNotAllowed) {
		t.Errorf("NewAlgorithmSet(): %v, want ErrAlgorithmNotAllowed", err)
	}
	for _, name := range []string{"none", "None", "NONE", "", "rs256"} {
		if _, err := jose.ParseAlgorithmSet(name); err == nil {
			t.Errorf("ParseAlgorithmSet(%q) succeeded", name)
		}
	}
	_, err := verifier.New(verifier.Config{
		Keys:      verifier.StaticKeys(keys),
		Issuers:   []string{testIssuer},
		Audiences: []string{testAudience},
	})
	if err == nil || !strings.Contains(err.Error(), "Algorithms") {
		t.Errorf("verifier.New without Algorithms: %v, want an error naming Algorithms", err)
	}
	// The same token verifies once RS256 is allowed, so the refusals above
	// are about the allowlist and nothing else.
	algs, err := jose.NewAlgorithmSet(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jose.VerifyJWT(tok, keys, algs, nil); err != nil {
		t.Fatalf("with RS256 allowed: %v", err)
	}
}
