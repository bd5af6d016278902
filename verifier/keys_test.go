package verifier

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/jose"
)

func TestLoadKeys(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	ed := loadTestKey(t, "ed25519.pem", jose.EdDSA)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwk, _ := ed.pub.MarshalJSON()
	set, _ := (&jose.JWKS{Keys: []*jose.JWK{ed.pub}}).MarshalJSON()
	privJWK, _ := (&jose.JWK{Key: ed.priv, KeyID: "priv"}).MarshalJSON()
	secret, _ := (&jose.JWK{Key: jose.SharedSecret(make([]byte, 32))}).MarshalJSON()
	noKID, _ := (&jose.JWK{Key: ed.pub.Key}).MarshalJSON()
	keysKID, _ := (&jose.JWK{Key: ed.pub.Key, KeyID: "keys"}).MarshalJSON()

	tests := []struct {
		name    string
		paths   []string
		wantIDs []string
		wantErr string
	}{
		{name: "public PEM", paths: []string{"testdata/rsa-a.pub.pem"}, wantIDs: []string{rsaA.pub.KeyID}},
		{name: "private PEM keeps the public half", paths: []string{"testdata/rsa-a.pem", "testdata/ed25519.pem"}, wantIDs: []string{rsaA.pub.KeyID, ed.pub.KeyID}},
		{name: "JWK", paths: []string{write("k.jwk", jwk)}, wantIDs: []string{ed.pub.KeyID}},
		{name: "private JWK", paths: []string{write("p.jwk", privJWK)}, wantIDs: []string{"priv"}},
		{name: "JWKS", paths: []string{write("s.json", set)}, wantIDs: []string{ed.pub.KeyID}},
		{name: "JWK without kid gets its thumbprint", paths: []string{write("n.jwk", noKID)}, wantIDs: []string{ed.pub.KeyID}},
		{name: `JWK whose kid is "keys" is a key`, paths: []string{write("kk.jwk", keysKID)}, wantIDs: []string{"keys"}},
		{name: "shared secret refused", paths: []string{write("s.jwk", secret)}, wantErr: "symmetric"},
		{name: "missing file", paths: []string{filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "not a key", paths: []string{write("x.txt", []byte("hello"))}, wantErr: "no PEM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadKeys(tt.paths...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := got.KeyIDs()
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("kids %v, want %v", ids, tt.wantIDs)
			}
			for _, k := range got.Keys {
				if !k.IsPublic() {
					t.Fatal("a private key was kept")
				}
			}
		})
	}
}

func TestDescriptionNeverLeaks(t *testing.T) {
	t.Parallel()
	err := errors.Join(jose.ErrAudience, errors.New(`aud is "secret-internal-api"`))
	if d := Description(err); d != "audience not accepted" {
		t.Fatal(d)
	}
	if d := Description(errors.New("something else")); d != "token invalid" {
		t.Fatal(d)
	}
}
