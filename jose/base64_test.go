package jose

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzBase64 holds decodeBase64URL to the standard library's strict unpadded
// base64url decoder: the same bytes for what that one accepts, a refusal
// for what it refuses, and a refusal for line breaks, which it skips.
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "QUJD", "QUJDRA", "QUJDRA==", "QU JD", "QUJD\nRA", "_-_-", "+/+/", "eyJhbGciOiJSUzI1NiJ9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkBase64(t, s)
	})
}

func checkBase64(t *testing.T, s string) {
	t.Helper()
	dst := make([]byte, b64.DecodedLen(len(s)))
	n, ok := decodeBase64URL(dst, s)
	want, err := b64.DecodeString(s)
	if strings.ContainsAny(s, "\r\n") {
		err = errLineBreak
	}
	switch {
	case ok && err != nil:
		t.Fatalf("decodeBase64URL(%q) accepted what the standard library refuses: %v", s, err)
	case !ok && err == nil:
		t.Fatalf("decodeBase64URL(%q) refused what the standard library decodes to %x", s, want)
	case ok && !bytes.Equal(dst[:n], want):
		t.Fatalf("decodeBase64URL(%q) = %x, want %x", s, dst[:n], want)
	}
}

var errLineBreak = &testError{"line break"}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }

// TestBase64 runs every length up to 200 and each byte value in each
// position of a short input through checkBase64.
func TestBase64(t *testing.T) {
	t.Parallel()
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for l := range 200 {
		raw := all[:l%256]
		checkBase64(t, b64.EncodeToString(raw))
	}
	base := []byte(b64.EncodeToString([]byte("keyward test")))
	for i := range base {
		for c := range 256 {
			s := bytes.Clone(base)
			s[i] = byte(c)
			checkBase64(t, string(s))
			checkBase64(t, string(s[:i+1]))
		}
	}
}
