package jose

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFuzzSeeds keeps the seed corpora of the fuzz targets in
// testdata/fuzz/<target>/ complete. With KEYWARD_WRITE_FUZZ_SEEDS=1 it
// (re)writes them, in the "go test fuzz v1" format; otherwise it checks that
// each named seed exists, so that a corpus cannot silently go missing.
// Files that fuzzing finds are committed next to them under their hash names.
func TestFuzzSeeds(t *testing.T) {
	write := os.Getenv("KEYWARD_WRITE_FUZZ_SEEDS") == "1"
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		names := make([]string, 0, len(seeds))
		for name := range seeds {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			path := filepath.Join(dir, name)
			if write {
				if err := os.WriteFile(path, []byte(seeds[name]), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("seed %s missing; run KEYWARD_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeeds ./jose", path)
			}
		}
	}
}

// corpusString and corpusBytes encode one fuzz input.
func corpusString(s string) string { return "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n" }
func corpusBytes(b []byte) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
}

// fuzzSeeds returns, per target, named seed files.
func fuzzSeeds(t *testing.T) map[string]map[string]string {
	t.Helper()
	tokens := map[string]string{}
	exp := NewNumericDate(testNow().Add(time.Hour))
	for _, alg := range Algorithms() {
		s, err := NewSigner(signingKey(t, alg), alg, string(alg))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.SignJWT("", &Claims{Issuer: "https://issuer.example", Subject: "123", Audience: Audience{"api"}, Expiry: exp,
			Extra: map[string]any{"email": "user@example.com", "roles": []any{"admin"}, "n": 1.5, "ok": true, "obj": map[string]any{"k": nil}}})
		if err != nil {
			t.Fatal(err)
		}
		tokens["valid-"+strings.ToLower(string(alg))] = tok
	}
	for _, name := range []string{"rfc7515-a2-rs256", "rfc7515-a3-es256", "rfc8037-a4-ed25519"} {
		var v rfcVector
		if err := json.Unmarshal(readTestdata(t, "rfc", name+".json"), &v); err != nil {
			t.Fatal(err)
		}
		tokens[name] = v.Token
	}
	rs := tokens["valid-rs256"]
	h64, rest, _ := strings.Cut(rs, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	forged := func(header, payload string) string { return enc(header) + "." + enc(payload) + "." + s64 }
	payload := fmt.Sprintf(`{"iss":"https://issuer.example","aud":"api","exp":%d}`, exp)
	tokens["alg-none"] = enc(`{"alg":"none"}`) + "." + enc(payload) + "."
	tokens["alg-hs256-rsa"] = forged(`{"alg":"HS256","kid":"RS256"}`, payload)
	tokens["crit"] = forged(`{"alg":"RS256","kid":"RS256","crit":["exp"]}`, payload)
	tokens["jwk"] = forged(`{"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"}}`, payload)
	tokens["x5c"] = forged(`{"alg":"RS256","x5c":["AAAA"]}`, payload)
	tokens["dup-header"] = forged(`{"alg":"RS256","alg":"none"}`, payload)
	tokens["dup-claims"] = forged(`{"alg":"RS256","kid":"RS256"}`, `{"exp":1,"exp":2}`)
	tokens["escaped-names"] = forged(`{"\u0061lg":"RS256","k\u0069d":"RS\u0032\u00356"}`, `{"\u0065xp":1e10,"a\ud83d\ude00":"\u00e9"}`)
	tokens["payload-array"] = forged(`{"alg":"RS256","kid":"RS256"}`, `[1,2]`)
	tokens["payload-null"] = forged(`{"alg":"RS256","kid":"RS256"}`, `null`)
	tokens["nested-claims"] = forged(`{"alg":"RS256","kid":"RS256"}`, `{"exp":1e10,"a":[[[{"b":[1,-0.5e-3,"x",null,true]}]]]}`)
	tokens["aud-array"] = forged(`{"alg":"RS256","kid":"RS256"}`, `{"exp":1e10,"aud":["a","b"],"nbf":1,"iat":1.5}`)
	tokens["two-segments"] = h64 + "." + p64
	tokens["four-segments"] = rs + ".AAAA"
	tokens["padded"] = rs + "=="
	tokens["std-alphabet"] = strings.NewReplacer("-", "+", "_", "/").Replace(rs)
	tokens["empty"] = ""
	tokens["dots"] = ".."

	tokenSeeds := map[string]string{}
	for name, tok := range tokens {
		tokenSeeds[name] = corpusString(tok)
	}

	jwks := map[string]string{}
	var publicKeys []string
	for _, alg := range []Algorithm{RS256, PS256, ES256, ES384, ES512, EdDSA} {
		key := signingKey(t, alg)
		priv, err := NewJWK(key, alg)
		if err != nil {
			t.Fatal(err)
		}
		pj, err := priv.Public()
		if err != nil {
			t.Fatal(err)
		}
		b, err := pj.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		jwks["public-"+strings.ToLower(string(alg))] = string(b)
		publicKeys = append(publicKeys, string(b))
		if alg != PS256 {
			b, err = priv.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			jwks["private-"+strings.ToLower(string(alg))] = string(b)
		}
	}
	for _, name := range []string{"rfc7515-a2-rs256", "rfc7515-a3-es256", "rfc8037-a4-ed25519"} {
		var v rfcVector
		if err := json.Unmarshal(readTestdata(t, "rfc", name+".json"), &v); err != nil {
			t.Fatal(err)
		}
		jwks[name] = string(v.JWK)
	}
	jwks["oct"] = `{"kty":"oct","k":"` + b64.EncodeToString(testSecret()) + `","alg":"HS256"}`
	jwks["rsa-1024"] = string(rsa1024JWK(t))
	jwks["ec-off-curve"] = `{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}`
	jwks["okp-x25519"] = `{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`
	jwks["dup-member"] = `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","x":"AAAA"}`
	jwks["alg-mismatch"] = strings.Replace(jwks["public-es256"], `"alg":"ES256"`, `"alg":"RS256"`, 1)
	jwkSeeds := map[string]string{}
	for name, j := range jwks {
		jwkSeeds[name] = corpusBytes([]byte(j))
	}

	sets := map[string]string{
		"all-public":   `{"keys":[` + strings.Join(publicKeys, ",") + `]}`,
		"empty":        `{"keys":[]}`,
		"no-keys":      `{}`,
		"null":         `null`,
		"enc-key":      `{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},` + publicKeys[2] + `]}`,
		"key-ops":      `{"keys":[` + strings.Replace(publicKeys[2], `{`, `{"key_ops":["sign"],`, 1) + `]}`,
		"private":      `{"keys":[` + jwks["private-es256"] + `]}`,
		"unknown-kty":  `{"keys":[{"kty":"AKP","alg":"ML-DSA-44","pub":"AAAA"},` + publicKeys[5] + `]}`,
		"dup-kid":      `{"keys":[` + publicKeys[0] + `,` + publicKeys[0] + `]}`,
		"rsa-1024":     `{"keys":[` + jwks["rsa-1024"] + `]}`,
		"extra-member": `{"keys":[` + publicKeys[3] + `],"other":{"keys":1}}`,
	}
	setSeeds := map[string]string{}
	for name, s := range sets {
		setSeeds[name] = corpusBytes([]byte(s))
	}

	pemSeeds := map[string]string{}
	entries, err := os.ReadDir(filepath.Join("testdata", "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		data := readTestdata(t, "keys", e.Name())
		pemSeeds[strings.TrimSuffix(e.Name(), ".pem")] = corpusBytes(data)
		if e.Name() == "rsa2048.pem" {
			pemSeeds["truncated"] = corpusBytes(data[:len(data)/2])
		}
	}
	pemSeeds["two-blocks"] = corpusBytes(append(readTestdata(t, "keys", "p256.pub.pem"), readTestdata(t, "keys", "ed25519.pub.pem")...))
	pemSeeds["encrypted"] = corpusBytes([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	pemSeeds["unknown-block"] = corpusBytes([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	pemSeeds["not-pem"] = corpusBytes([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"))

	fastSeeds := map[string]string{}
	for _, tc := range fastPathCases {
		fastSeeds[strings.ReplaceAll(tc.name, " ", "-")] = corpusBytes([]byte(tc.doc))
	}

	b64Seeds := map[string]string{
		"token":         corpusString(strings.Split(rs, ".")[2]),
		"empty":         corpusString(""),
		"one-char":      corpusString("A"),
		"trailing-bits": corpusString("AB"),
		"padded":        corpusString("QUJDRA=="),
		"std-alphabet":  corpusString("+/+/"),
		"line-break":    corpusString("QUJD\nRA"),
	}

	// FuzzRSAPKCS1v15: hash, offset, data, sign. Offsets are in the
	// 256-byte encoding of rsa2048.pem: 0x00 0x01 at 0, the padding from
	// 2, and for SHA-256 the separator at 204, the DigestInfo prefix at 205
	// and the hash at 224.
	rsaSeed := func(hash uint8, offset uint16, data []byte, sign bool) string {
		return fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint16(%d)\n[]byte(%s)\nbool(%t)\n", hash, offset, strconv.Quote(string(data)), sign)
	}
	rsaSeeds := map[string]string{
		"valid-sha256":   rsaSeed(0, 0, nil, true),
		"valid-sha384":   rsaSeed(1, 0, nil, true),
		"valid-sha512":   rsaSeed(2, 0, nil, true),
		"block-type":     rsaSeed(0, 1, []byte{3}, true),
		"padding":        rsaSeed(0, 100, []byte{0xff}, true),
		"separator":      rsaSeed(0, 204, []byte{1}, true),
		"prefix":         rsaSeed(0, 218, []byte{2}, true),
		"hash":           rsaSeed(0, 255, []byte{1}, true),
		"shifted":        rsaSeed(0, 203, []byte{0xff, 0x30}, true),
		"raw-zero":       rsaSeed(0, 0, make([]byte, 256), false),
		"raw-short":      rsaSeed(0, 0, []byte{1, 2, 3}, false),
		"raw-all-ff":     rsaSeed(0, 0, bytes.Repeat([]byte{0xff}, 256), false),
		"raw-one-longer": rsaSeed(1, 0, make([]byte, 257), false),
		"raw-one":        rsaSeed(0, 0, append(make([]byte, 255), 1), false),
	}
	// Signatures at N's edges and with every limb all ones or zero, so
	// that carries ripple through the arithmetic.
	rsaN := testKey(t, "rsa2048.pem").(*rsa.PrivateKey).N
	for name, v := range map[string]*big.Int{
		"raw-n-minus-1":          new(big.Int).Sub(rsaN, big.NewInt(1)),
		"raw-n":                  rsaN,
		"raw-n-plus-1":           new(big.Int).Add(rsaN, big.NewInt(1)),
		"raw-low-limbs-all-ones": new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64*31), big.NewInt(1)),
		"raw-alternating-limbs":  new(big.Int).SetBytes(bytes.Repeat(append(bytes.Repeat([]byte{0xff}, 8), make([]byte, 8)...), 15)),
	} {
		rsaSeeds[name] = rsaSeed(0, 0, v.FillBytes(make([]byte, 256)), false)
	}

	return map[string]map[string]string{
		"FuzzRSAPKCS1v15": rsaSeeds,
		"FuzzBase64":      b64Seeds,
		"FuzzFastPath":    fastSeeds,
		"FuzzParse":       tokenSeeds,
		"FuzzVerifyJWT":   tokenSeeds,
		"FuzzParseJWK":    jwkSeeds,
		"FuzzParseJWKS":   setSeeds,
		"FuzzParseKeyPEM": pemSeeds,
	}
}
