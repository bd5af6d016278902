package server

import (
	"net/http"
	"slices"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/jose"
)

// TestDiscoveryAlgorithms checks the algorithms discovery lists for each
// configured algorithm: never one the issuer cannot sign with, RS256
// always for ID tokens.
func TestDiscoveryAlgorithms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg         jose.Algorithm
		idTokens    []string
		accessToken []string
		keys        int
	}{
		{alg: jose.RS256, idTokens: []string{"RS256"}, accessToken: []string{"RS256"}, keys: 1},
		{alg: jose.PS256, idTokens: []string{"RS256", "PS256"}, accessToken: []string{"PS256"}, keys: 2},
		{alg: jose.ES384, idTokens: []string{"RS256", "ES384"}, accessToken: []string{"ES384"}, keys: 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			st := newStack(t, stackOptions{alg: tt.alg})
			resp, b := st.do(t, http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
			var md struct {
				IDTokenAlgs     []string `json:"id_token_signing_alg_values_supported"`
				AccessTokenAlgs []string `json:"access_token_signing_alg_values_supported"`
			}
			if err := json.Unmarshal(b, &md); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("discovery: %d %s (%v)", resp.StatusCode, b, err)
			}
			if !slices.Equal(md.IDTokenAlgs, tt.idTokens) || !slices.Equal(md.AccessTokenAlgs, tt.accessToken) {
				t.Fatalf("ID-token algorithms %v, access-token algorithms %v; want %v, %v", md.IDTokenAlgs, md.AccessTokenAlgs, tt.idTokens, tt.accessToken)
			}
			if set, _ := st.keys.KeySet(); len(set.Keys) != tt.keys {
				t.Fatalf("%d keys published, want %d", len(set.Keys), tt.keys)
			}
		})
	}
}
