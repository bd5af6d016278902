package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// TestRecipe is acceptance criterion 1 for every asymmetric algorithm:
// keygen, token sign with the seed's claims, token verify with the public
// PEM, with the JWK keygen wrote and with the JWK set of keyward jwks; a
// tampered token exits 1 with one line.
func TestRecipe(t *testing.T) {
	t.Parallel()
	for _, alg := range asymmetricAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			priv, pub, jwk := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem"), filepath.Join(dir, "public.jwk")
			kid := strings.TrimSpace(mustRun(t, "keygen", "--alg", string(alg), "--out", priv, "--pub", pub, "--jwk", jwk))
			if kid == "" {
				t.Fatal("keygen printed no kid")
			}
			sign := []string{"token", "sign", "--key", priv, "--ttl", "1h",
				"--claim", "userId=123", "--claim", "email=user@example.com", "--claim", "role=admin"}
			// A PEM key says nothing of its algorithm: RSA keys sign RS256
			// unless told otherwise, EC and Ed25519 keys have only one.
			if isRSA(alg) && alg != "RS256" {
				sign = append(sign, "--alg", string(alg))
			}
			token := strings.TrimSpace(mustRun(t, sign...))

			jwks := filepath.Join(dir, "jwks.json")
			if err := os.WriteFile(jwks, []byte(mustRun(t, "jwks", "--alg", string(alg), pub)), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, source := range [][]string{{"--key", pub}, {"--key", jwk}, {"--jwks", jwks}, {"--key", priv}} {
				out := mustRun(t, append(append([]string{"token", "verify"}, source...), token)...)
				v := parseVerified(t, out)
				if v.Header["alg"] != string(alg) || v.Header["kid"] != kid || v.Header["typ"] != "JWT" {
					t.Errorf("%v: header %v, want alg %s, kid %s, typ JWT", source, v.Header, alg, kid)
				}
				want := map[string]any{
					"userId": 123.0, "email": "user@example.com", "role": "admin",
					"iat": float64(t0.Unix()), "exp": float64(t0.Add(time.Hour).Unix()),
				}
				for name, w := range want {
					if got := v.Claims[name]; got != w {
						t.Errorf("%v: claim %s = %#v, want %#v", source, name, got, w)
					}
				}
				if jti, _ := v.Claims["jti"].(string); len(jti) < 16 {
					t.Errorf("%v: jti %q, want a random ID", source, v.Claims["jti"])
				}
			}

			for segment := range 3 {
				r := kw(t, "token", "verify", "--key", pub, tamper(t, token, segment))
				if r.code != 1 || r.stdout != "" {
					t.Errorf("tampered segment %d: exit %d, stdout %q; want 1 and nothing", segment, r.code, r.stdout)
				}
				oneErrorLine(t, r.stderr, "keyward: token rejected: ")
			}
		})
	}
}

// TestSignVerifySecret covers HS256/384/512 with --secret-file, and that a
// public key never verifies an HMAC token.
func TestSignVerifySecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s3cr3t-", 10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			token := strings.TrimSpace(mustRun(t, "token", "sign", "--secret-file", secret, "--alg", alg, "--sub", "svc"))
			v := parseVerified(t, mustRun(t, "token", "verify", "--secret-file", secret, token))
			if v.Header["alg"] != alg || v.Header["kid"] != nil || v.Claims["sub"] != "svc" {
				t.Errorf("verified %v", v)
			}
			r := kw(t, "token", "verify", "--explain", "--key", testKey("rsa2048.pub.pem"), token)
			if r.code != 1 || !strings.Contains(r.stderr, "not in the allowlist") {
				t.Errorf("HMAC token against an RSA key: exit %d, %q", r.code, r.stderr)
			}
		})
	}
	r := kw(t, "token", "sign", "--secret-file", short)
	if r.code != 1 || !strings.Contains(r.stderr, "at least 32") || strings.Contains(r.stderr, "too-short") {
		t.Errorf("short secret: exit %d, %q", r.code, r.stderr)
	}
}

// TestVerifyExplain checks the reasons token verify gives, with and without
// --explain, on a fixed clock.
func TestVerifyExplain(t *testing.T) {
	t.Parallel()
	rsa, ec := testKey("rsa2048.pem"), testKey("p256.pem")
	dir := t.TempDir()
	set := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(set, []byte(mustRun(t, "jwks", rsa, ec)), 0o644); err != nil {
		t.Fatal(err)
	}
	kids := keyIDs(t, set)
	sign := func(args ...string) string {
		return strings.TrimSpace(mustRun(t, append([]string{"token", "sign", "--key", rsa}, args...)...))
	}
	tests := []struct {
		name   string
		token  string
		verify []string
		at     time.Time
		want   string // with --explain
		short  string // without
	}{
		{
			name:  "expired",
			token: sign("--ttl", "1h"),
			at:    t0.Add(time.Hour + 3*time.Minute + 12*time.Second),
			want:  "expired 3m12s ago",
			short: "token expired (--explain says why)",
		},
		{
			name:   "audience",
			token:  sign("--aud", "x"),
			verify: []string{"--aud", "y"},
			want:   "aud is x, want y",
			short:  "audience not accepted",
		},
		{
			name:   "issuer",
			token:  sign("--iss", "https://evil.example"),
			verify: []string{"--iss", "https://issuer.example"},
			want:   `iss is "https://evil.example", want https://issuer.example`,
			short:  "issuer not accepted",
		},
		{
			name:  "unknown kid",
			token: sign("--kid", "abc"),
			want:  fmt.Sprintf(`kid "abc" is not in the key set [%s %s]`, kids[0], kids[1]),
			short: "key not found",
		},
		{
			name:  "not yet valid",
			token: sign("--claim", fmt.Sprintf("nbf=%d", t0.Add(10*time.Minute).Unix())),
			want:  "not valid for another 10m0s",
			short: "token not yet valid",
		},
		{
			name:   "algorithm",
			token:  sign("--alg", "PS256"),
			verify: []string{"--algs", "RS256,ES256"},
			want:   "PS256 is not in the allowlist [RS256,ES256]",
			short:  "algorithm not allowed",
		},
		{
			name:  "signature",
			token: tamper(t, sign(), 2),
			want:  "invalid signature",
			short: "invalid signature",
		},
		{
			name:  "none",
			token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
			want:  `"none"`,
			short: "algorithm not allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := invocation{now: tt.at}
			args := append(append([]string{"token", "verify", "--jwks", set}, tt.verify...), tt.token)
			r := inv.kw(t, args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			oneErrorLine(t, r.stderr, "keyward: token rejected: "+tt.short)

			r = inv.kw(t, append([]string{"token", "verify", "--explain"}, args[2:]...)...)
			if r.code != 1 {
				t.Fatalf("--explain: exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			oneErrorLine(t, r.stderr, "keyward: token rejected: ")
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("--explain: %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

// keyIDs returns the key IDs of a JWK set file, in order.
func keyIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	return ids
}

// TestClaimTypes checks that --claim keeps JSON types and that --claims,
// --iss, --sub and --aud combine in their documented order.
func TestClaimTypes(t *testing.T) {
	t.Parallel()
	key, pub := testKey("p256.pem"), testKey("p256.pub.pem")
	tests := []struct {
		claim string
		name  string
		want  string // the claim's JSON in the payload
	}{
		{"userId=123", "userId", `123`},
		{"admin=true", "admin", `true`},
		{"off=false", "off", `false`},
		{"x=null", "x", `null`},
		{"ratio=1.5", "ratio", `1.5`},
		{"big=12345678901234567890", "big", `12345678901234567890`},
		{`obj={"a":1,"b":[true]}`, "obj", `{"a":1,"b":[true]}`},
		{`roles=["admin","dev"]`, "roles", `["admin","dev"]`},
		{"email=user@example.com", "email", `"user@example.com"`},
		{`id="123"`, "id", `"123"`},
		{"zip=007", "zip", `"007"`},
		{"phone=+4930123", "phone", `"+4930123"`},
		{"empty=", "empty", `""`},
		{"eq=a=b", "eq", `"a=b"`},
		{`broken={"a":`, "broken", `"{\"a\":"`},
		{`dup={"a":1,"a":2}`, "dup", `"{\"a\":1,\"a\":2}"`},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			t.Parallel()
			token := strings.TrimSpace(mustRun(t, "token", "sign", "--key", key, "--claim", tt.claim))
			out := mustRun(t, "token", "verify", "--key", pub, token)
			var v struct {
				Claims map[string]jsontext.Value `json:"claims"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatal(err)
			}
			got, ok := v.Claims[tt.name]
			if !ok {
				t.Fatalf("claim %s missing from %s", tt.name, out)
			}
			if compact(got) != tt.want {
				t.Errorf("claim %s = %s, want %s", tt.name, got, tt.want)
			}
		})
	}

	t.Run("precedence", func(t *testing.T) {
		t.Parallel()
		inv := invocation{stdin: `{"iss":"from-file","role":"user","sub":"file","exp":1900000000}`}
		token := strings.TrimSpace(inv.kw(t, "token", "sign", "--key", key, "--claims", "-",
			"--claim", "role=admin", "--sub", "alice", "--aud", "a", "--aud", "b").stdout)
		v := parseVerified(t, mustRun(t, "token", "verify", "--key", pub, token))
		want := map[string]any{"iss": "from-file", "role": "admin", "sub": "alice", "exp": 1900000000.0}
		for name, w := range want {
			if v.Claims[name] != w {
				t.Errorf("claim %s = %#v, want %#v", name, v.Claims[name], w)
			}
		}
		if aud, _ := v.Claims["aud"].([]any); len(aud) != 2 || aud[0] != "a" || aud[1] != "b" {
			t.Errorf("aud = %#v, want [a b]", v.Claims["aud"])
		}
	})

	bad := []struct {
		name string
		inv  invocation
		args []string
	}{
		{"no equals sign", invocation{}, []string{"--claim", "userId"}},
		{"empty name", invocation{}, []string{"--claim", "=1"}},
		{"exp of the wrong type", invocation{}, []string{"--claim", "exp=soon"}},
		{"claims not an object", invocation{stdin: `[1]`}, []string{"--claims", "-"}},
		{"claims with duplicate names", invocation{stdin: `{"a":1,"a":2}`}, []string{"--claims", "-"}},
		{"ttl and exp", invocation{}, []string{"--ttl", "5m", "--claim", "exp=1900000000"}},
		{"zero ttl", invocation{}, []string{"--ttl", "0s"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.inv.kw(t, append([]string{"token", "sign", "--key", key}, tt.args...)...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and no token", r.code, r.stdout)
			}
			oneErrorLine(t, r.stderr, "keyward: ")
		})
	}
}

// compact removes the indentation token verify adds; the values tested
// hold no spaces.
func compact(v []byte) string {
	return strings.Join(strings.Fields(string(v)), "")
}

// TestVerifyStdinAndHeaders checks "-" for the token, the refusal of
// tokens that carry their own key, and the kid-free match of PEM keys.
func TestVerifyStdinAndHeaders(t *testing.T) {
	t.Parallel()
	key, pub := testKey("ed25519.pem"), testKey("ed25519.pub.pem")
	token := mustRun(t, "token", "sign", "--key", key, "--kid", "some-other-label")
	r := invocation{stdin: token}.kw(t, "token", "verify", "--key", pub, "-")
	if r.code != 0 {
		t.Fatalf("stdin token: exit %d, %s", r.code, r.stderr)
	}
	if v := parseVerified(t, r.stdout); v.Header["kid"] != "some-other-label" {
		t.Errorf("header %v", v.Header)
	}
	// A JWK is looked up by its kid, unlike a PEM key.
	dir := t.TempDir()
	jwk := filepath.Join(dir, "k.jwk")
	if err := os.WriteFile(jwk, []byte(mustRun(t, "jwks", pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := kw(t, "token", "verify", "--key", jwk, strings.TrimSpace(token)); r.code != 1 {
		t.Errorf("unknown kid against a JWK set: exit %d", r.code)
	}
	// An embedded jwk header is refused before any key is looked at.
	embedded := "eyJhbGciOiJFZERTQSIsImp3ayI6eyJrdHkiOiJPS1AifX0.eyJzdWIiOiJ4In0.AAAA"
	r = kw(t, "token", "verify", "--explain", "--key", pub, embedded)
	if r.code != 1 || !strings.Contains(r.stderr, "jwk") {
		t.Errorf("embedded jwk: exit %d, %q", r.code, r.stderr)
	}
}

// TestInspect checks that inspect decodes without verifying and says so.
func TestInspect(t *testing.T) {
	t.Parallel()
	token := strings.TrimSpace(mustRun(t, "token", "sign", "--key", testKey("p384.pem"), "--ttl", "1h", "--sub", "alice"))
	inv := invocation{now: t0.Add(3*time.Minute + 12*time.Second)}
	r := inv.kw(t, "token", "inspect", tamper(t, token, 2))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if lines[0] != inspectWarning {
		t.Errorf("first line %q, want the warning", lines[0])
	}
	for _, want := range []string{
		`"alg": "ES384"`, `"sub": "alice"`,
		"iat: 2026-03-01T12:00:00Z (3m12s ago)",
		"exp: 2026-03-01T13:00:00Z (in 56m48s)",
		"signature: 96 bytes",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = kw(t, "token", "inspect", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	if r.code != 0 || !strings.Contains(r.stdout, "keyward refuses this token") {
		t.Errorf("alg none: exit %d\n%s", r.code, r.stdout)
	}
	for _, bad := range []string{"abc", "a.b", "a.b.c.d", "!!.e30.", "e30.eyJ.", "W10.W10"} {
		r := kw(t, "token", "inspect", bad)
		if r.code != 1 {
			t.Errorf("inspect %q: exit %d, want 1", bad, r.code)
		}
	}
}
