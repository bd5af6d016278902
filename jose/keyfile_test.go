package jose

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	pub := testKey(t, "p256.pem").Public()
	jwk, err := NewJWK(pub, ES256)
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := jwk.Thumbprint()
	if err != nil {
		t.Fatal(err)
	}
	single := func(kid string) string {
		k := *jwk
		k.KeyID = kid
		b, err := json.Marshal(&k)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		data    string
		wantKID []string
		wantErr error
	}{
		{name: "PEM private key", data: string(readTestdata(t, "keys", "p256.pem")), wantKID: []string{thumb}},
		{name: "PEM public key", data: string(readTestdata(t, "keys", "p256.pub.pem")), wantKID: []string{thumb}},
		{name: "JWK without kid gets its thumbprint", data: single(""), wantKID: []string{thumb}},
		{name: "JWK keeps its kid", data: single("k1"), wantKID: []string{"k1"}},
		// A single key whose kid is the word "keys" is a key, not a set.
		{name: `JWK whose kid is "keys"`, data: single("keys"), wantKID: []string{"keys"}},
		{name: "JWK set", data: `{"keys":[` + single("a") + `,` + single("b") + `]}`, wantKID: []string{"a", "b"}},
		{name: "empty JWK set", data: `{"keys":[]}`, wantErr: ErrInvalidKey},
		{name: "not JSON", data: `{"kty":`, wantErr: ErrMalformed},
		{name: "duplicate member", data: `{"keys":[],"keys":[]}`, wantErr: ErrMalformed},
		{name: "no PEM block", data: "hello", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := ParseKeyFile([]byte(tt.data))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.data) && len(tt.data) > 8 {
					t.Errorf("the error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.KeyID)
			}
			if strings.Join(kids, ",") != strings.Join(tt.wantKID, ",") {
				t.Errorf("kids %v, want %v", kids, tt.wantKID)
			}
		})
	}
}

// FuzzParseKeyFile holds ParseKeyFile to never panicking, and to returning
// at least one key, each with key material, whenever it returns no error.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(readTestdata(f, "keys", "p256.pem"))
	f.Add(readTestdata(f, "keys", "rsa2048.pub.pem"))
	f.Add(readTestdata(f, "keys", "p256-cert.pem"))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`))
	f.Add([]byte(`{"keys":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeyFile(data)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatalf("no key and no error from %q", data)
		}
		for _, k := range keys {
			if k == nil || k.Key == nil {
				t.Fatalf("a key without key material from %q", data)
			}
		}
	})
}
