package issuer

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	s := testSealer(t)
	pt := []byte("private key bytes")
	sealed, err := s.Seal("kid-1", pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := s.Seal("kid-1", pt)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals are equal: the nonce is not random")
	}
	got, err := s.Open("kid-1", sealed)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, err := NewSealer(bytes.Repeat([]byte{1}, MasterKeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		s      *Sealer
		kid    string
		sealed []byte
	}{
		{"other kid", s, "kid-2", sealed},
		{"other master key", other, "kid-1", sealed},
		{"tampered", s, "kid-1", flipped},
		{"truncated", s, "kid-1", sealed[:10]},
		{"unknown version", s, "kid-1", append([]byte{9}, sealed[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.s.Open(tt.kid, tt.sealed); !errors.Is(err, ErrMasterKey) {
				t.Fatalf("Open error = %v, want ErrMasterKey", err)
			}
		})
	}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xab}, MasterKeySize)
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(key), true},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(key), true},
		{"hex", hex.EncodeToString(key), true},
		{"hex with newline", hex.EncodeToString(key) + "\n", true},
		{"short", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"garbage", "not a key!", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMasterKey(tt.in)
			if !tt.valid {
				if err == nil {
					t.Fatal("accepted")
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Fatalf("error %q echoes the input", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("ParseMasterKey = %x, %v", got, err)
			}
		})
	}
	if _, err := NewSealer(key[:31], nil); err == nil {
		t.Fatal("NewSealer accepted a 31-byte key")
	}
}
