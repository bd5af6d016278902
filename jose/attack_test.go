package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// attackKit holds the legitimate keys of the attack table and helpers to
// forge tokens against them.
type attackKit struct {
	tb      testing.TB
	rsa     crypto.Signer // kid "rsa", any RS*/PS* algorithm
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	set     *JWKS
	rsaJWK  *JWK
	expiry  NumericDate
	payload string // a valid claims set for the policy below
}

func newAttackKit(tb testing.TB) *attackKit {
	tb.Helper()
	k := &attackKit{
		tb:     tb,
		rsa:    testKey(tb, "rsa2048.pem"),
		ec:     testKey(tb, "p256.pem").(*ecdsa.PrivateKey),
		ed:     testKey(tb, "ed25519.pem").(ed25519.PrivateKey),
		expiry: NewNumericDate(testNow().Add(time.Hour)),
	}
	k.payload = `{"iss":"https://issuer.example","aud":"api","sub":"123","exp":` + big.NewInt(int64(k.expiry)).String() + `}`
	jwk := func(key crypto.Signer, kid string, alg Algorithm) *JWK {
		j, err := NewJWK(key.Public(), alg)
		if err != nil {
			tb.Fatal(err)
		}
		j.KeyID = kid
		return j
	}
	k.rsaJWK = jwk(k.rsa, "rsa", "")
	k.set = &JWKS{Keys: []*JWK{
		k.rsaJWK,
		jwk(k.rsa, "rsa-rs256", RS256),
		jwk(k.ec, "ec", ""),
		jwk(k.ed, "ed", ""),
	}}
	return k
}

func (k *attackKit) policy() *Policy {
	return &Policy{Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, Now: testNow}
}

// compact joins already encoded segments.
func compact(segments ...string) string { return strings.Join(segments, ".") }

// enc is unpadded base64url.
func enc(s string) string { return b64.EncodeToString([]byte(s)) }

// sign signs header and payload (raw JSON texts) with key under alg, with a
// signature made by the standard library, not by Signer, so that the table
// can sign what Signer would refuse to.
func (k *attackKit) sign(alg Algorithm, key any, header, payload string) string {
	k.tb.Helper()
	input := enc(header) + "." + enc(payload)
	return input + "." + b64.EncodeToString(k.rawSig(alg, key, input))
}

func (k *attackKit) rawSig(alg Algorithm, key any, input string) []byte {
	k.tb.Helper()
	if secret, ok := key.([]byte); ok {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return mac.Sum(nil)
	}
	s, err := NewSigner(key, alg, "")
	if err != nil {
		k.tb.Fatal(err)
	}
	sig, err := s.signRaw([]byte(input))
	if err != nil {
		k.tb.Fatal(err)
	}
	return sig
}

// withSig replaces the signature of a token by sig.
func withSig(token string, sig []byte) string {
	i := strings.LastIndexByte(token, '.')
	return token[:i+1] + b64.EncodeToString(sig)
}

// sigOf returns the decoded signature of a token.
func sigOf(tb testing.TB, token string) []byte {
	tb.Helper()
	b, err := b64.DecodeString(token[strings.LastIndexByte(token, '.')+1:])
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// p256N returns the order of P-256 as 32 big-endian bytes, plus delta.
func p256N(delta int64) []byte {
	n := new(big.Int).Add(ecdsaCurveN(), big.NewInt(delta))
	return n.FillBytes(make([]byte, 32))
}

func ecdsaCurveN() *big.Int { return elliptic.P256().Params().N }

// TestAttacks is the attack table: every row is a forged or broken token, or
// a forged key, and the error category it must be refused with. Tokens are
// checked with VerifyJWT against a set of honest RSA, P-256 and Ed25519 keys,
// an allowlist holding every algorithm of the row, and a policy that the
// honest tokens pass.
func TestAttacks(t *testing.T) {
	t.Parallel()
	k := newAttackKit(t)

	rsaPubDER, err := x509.MarshalPKIXPublicKey(k.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})
	rsaPubJWK, err := k.rsaJWK.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(k.rsa.Public().(*rsa.PublicKey))})

	good := map[Algorithm]string{
		RS256: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload),
		PS256: k.sign(PS256, k.rsa, `{"alg":"PS256","kid":"rsa"}`, k.payload),
		ES256: k.sign(ES256, k.ec, `{"alg":"ES256","kid":"ec"}`, k.payload),
		EdDSA: k.sign(EdDSA, k.ed, `{"alg":"EdDSA","kid":"ed"}`, k.payload),
	}
	// The honest tokens pass: every row below differs from one of them by
	// the attack alone.
	for alg, tok := range good {
		if _, err := VerifyJWT(tok, k.set, mustAlgs(t, alg), k.policy()); err != nil {
			t.Fatalf("honest %s token: %v", alg, err)
		}
	}

	esHeader := enc(`{"alg":"ES256","kid":"ec"}`)
	esInput := esHeader + "." + enc(k.payload)
	esSig := sigOf(t, good[ES256])
	derSig, err := ecdsa.SignASN1(rand.Reader, k.ec, sha256Sum(esInput))
	if err != nil {
		t.Fatal(err)
	}
	edSig := sigOf(t, good[EdDSA])
	rsSig := sigOf(t, good[RS256])

	// Ed25519 malleability: S + L is the same scalar but not canonical.
	edMalleable := append([]byte(nil), edSig...)
	addL(edMalleable[32:])

	// Standard base64 alphabet instead of base64url.
	stdAlphabet := strings.NewReplacer("-", "+", "_", "/").Replace(good[RS256])
	if stdAlphabet == good[RS256] {
		t.Fatal("the RS256 test token has no '-' or '_' to swap")
	}
	// A last character whose unused low bits are set: not canonical. A
	// 256-byte signature ends in a character that carries 2 bits and 4
	// zero bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, good[RS256][len(good[RS256])-1])
	if last&15 != 0 {
		t.Fatalf("unexpected last character of the RS256 test token")
	}
	lastBits := good[RS256][:len(good[RS256])-1] + alphabet[last|1:last|1+1]

	hs := func(header string, secret []byte) string { return k.sign(HS256, secret, header, k.payload) }

	tests := []struct {
		name  string
		token string
		algs  []Algorithm // allowlist; nil means every algorithm
		// load, when set, replaces the token check: a key that must be refused.
		load func() error
		want error
	}{
		// alg "none", in any spelling, with and without a signature.
		{name: "alg none", token: compact(enc(`{"alg":"none"}`), enc(k.payload), ""), want: ErrAlgorithmNotAllowed},
		{name: "alg None", token: compact(enc(`{"alg":"None"}`), enc(k.payload), ""), want: ErrAlgorithmNotAllowed},
		{name: "alg NONE", token: compact(enc(`{"alg":"NONE"}`), enc(k.payload), ""), want: ErrAlgorithmNotAllowed},
		{name: "alg nOnE", token: compact(enc(`{"alg":"nOnE"}`), enc(k.payload), ""), want: ErrAlgorithmNotAllowed},
		{name: "alg none with a signature", token: compact(enc(`{"alg":"none","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrAlgorithmNotAllowed},
		{name: "alg none, escaped name and value", token: compact(enc(`{"\u0061lg":"\u006eone"}`), enc(k.payload), ""), want: ErrAlgorithmNotAllowed},
		{name: "crit, escaped name", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","\u0063rit":["exp"]}`, k.payload), want: ErrUnsupported},
		{name: "duplicate alg, one escaped", token: compact(enc(`{"alg":"RS256","kid":"rsa","\u0061lg":"none"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "alg empty", token: compact(enc(`{"alg":""}`), enc(k.payload), "AAAA"), want: ErrMalformed},
		{name: "alg missing", token: compact(enc(`{"kid":"rsa"}`), enc(k.payload), "AAAA"), want: ErrMalformed},
		{name: "alg lower case rs256", token: compact(enc(`{"alg":"rs256","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrAlgorithmNotAllowed},
		{name: "alg with trailing space", token: compact(enc(`{"alg":"RS256 ","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrAlgorithmNotAllowed},
		{name: "alg as a number", token: compact(enc(`{"alg":256,"kid":"rsa"}`), enc(k.payload), "AAAA"), want: ErrMalformed},
		{name: "alg null", token: compact(enc(`{"alg":null,"kid":"rsa"}`), enc(k.payload), "AAAA"), want: ErrMalformed},

		// HS256 signed with the RSA public key's bytes, even though the
		// allowlist holds both HS256 and RS256: the key is RSA.
		{name: "HS256 with public key PEM", token: hs(`{"alg":"HS256","kid":"rsa"}`, rsaPubPEM), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 with public key PKCS1 PEM", token: hs(`{"alg":"HS256","kid":"rsa"}`, rsaPKCS1PEM), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 with public key DER", token: hs(`{"alg":"HS256","kid":"rsa"}`, rsaPubDER), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 with public key JWK", token: hs(`{"alg":"HS256","kid":"rsa"}`, rsaPubJWK), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 with public key PEM, no kid", token: hs(`{"alg":"HS256"}`, rsaPubPEM), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 with public key PEM, RS256-bound key", token: hs(`{"alg":"HS256","kid":"rsa-rs256"}`, rsaPubPEM), algs: []Algorithm{HS256, RS256}, want: ErrAlgorithmNotAllowed},
		{name: "HS256 not in the allowlist", token: hs(`{"alg":"HS256","kid":"rsa"}`, rsaPubPEM), algs: []Algorithm{RS256}, want: ErrAlgorithmNotAllowed},

		// Algorithm and key type mismatches.
		{name: "RS256 header on the EC key", token: compact(enc(`{"alg":"RS256","kid":"ec"}`), enc(k.payload), b64.EncodeToString(rsSig)), algs: []Algorithm{RS256, ES256}, want: ErrAlgorithmNotAllowed},
		{name: "ES256 header on the RSA key", token: compact(enc(`{"alg":"ES256","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(esSig)), algs: []Algorithm{RS256, ES256}, want: ErrAlgorithmNotAllowed},
		{name: "EdDSA header on the EC key", token: compact(enc(`{"alg":"EdDSA","kid":"ec"}`), enc(k.payload), b64.EncodeToString(edSig)), want: ErrAlgorithmNotAllowed},
		{name: "ES384 header on the P-256 key", token: compact(enc(`{"alg":"ES384","kid":"ec"}`), enc(k.payload), b64.EncodeToString(esSig)), want: ErrAlgorithmNotAllowed},
		{name: "PS256 on a key bound to RS256", token: compact(enc(`{"alg":"PS256","kid":"rsa-rs256"}`), enc(k.payload), b64.EncodeToString(sigOf(t, good[PS256]))), want: ErrAlgorithmNotAllowed},
		{name: "RS256 signature presented as PS256", token: compact(enc(`{"alg":"PS256","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrSignature},
		{name: "RS384 outside an RS256 allowlist", token: k.sign(RS384, k.rsa, `{"alg":"RS384","kid":"rsa"}`, k.payload), algs: []Algorithm{RS256}, want: ErrAlgorithmNotAllowed},
		{name: "unknown kid", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"other"}`, k.payload), want: ErrKeyNotFound},
		{name: "signed by another key", token: k.sign(ES256, mustECKey(t), `{"alg":"ES256","kid":"ec"}`, k.payload), want: ErrSignature},

		// ECDSA signature values.
		{name: "ECDSA r=s=0 (CVE-2022-21449)", token: compact(esInput, b64.EncodeToString(make([]byte, 64))), want: ErrSignature},
		{name: "ECDSA r=0", token: compact(esInput, b64.EncodeToString(append(make([]byte, 32), esSig[32:]...))), want: ErrSignature},
		{name: "ECDSA s=0", token: compact(esInput, b64.EncodeToString(append(append([]byte(nil), esSig[:32]...), make([]byte, 32)...))), want: ErrSignature},
		{name: "ECDSA r=n", token: compact(esInput, b64.EncodeToString(append(p256N(0), esSig[32:]...))), want: ErrSignature},
		{name: "ECDSA r=s=n", token: compact(esInput, b64.EncodeToString(append(p256N(0), p256N(0)...))), want: ErrSignature},
		{name: "ECDSA s=n", token: compact(esInput, b64.EncodeToString(append(append([]byte(nil), esSig[:32]...), p256N(0)...))), want: ErrSignature},
		{name: "ECDSA s=n+1", token: compact(esInput, b64.EncodeToString(append(append([]byte(nil), esSig[:32]...), p256N(1)...))), want: ErrSignature},
		{name: "ECDSA r,s = 0xff...", token: compact(esInput, b64.EncodeToString(bytesOf(0xff, 64))), want: ErrSignature},
		{name: "ECDSA DER-encoded signature", token: compact(esInput, b64.EncodeToString(derSig)), want: ErrSignature},
		{name: "ECDSA signature of 65 bytes", token: compact(esInput, b64.EncodeToString(append([]byte{0}, esSig...))), want: ErrSignature},

		// Truncated, extended and empty signatures.
		{name: "RS256 signature truncated", token: withSig(good[RS256], rsSig[:len(rsSig)-1]), want: ErrSignature},
		{name: "RS256 signature with a leading zero", token: withSig(good[RS256], append([]byte{0}, rsSig...)), want: ErrSignature},
		{name: "RS256 signature of zeros", token: withSig(good[RS256], make([]byte, len(rsSig))), want: ErrSignature},
		{name: "ES256 signature truncated", token: withSig(good[ES256], esSig[:63]), want: ErrSignature},
		{name: "EdDSA signature truncated", token: withSig(good[EdDSA], edSig[:63]), want: ErrSignature},
		{name: "EdDSA non-canonical S+L", token: withSig(good[EdDSA], edMalleable), want: ErrSignature},
		{name: "RS256 empty signature", token: withSig(good[RS256], nil), want: ErrSignature},
		{name: "ES256 empty signature", token: withSig(good[ES256], nil), want: ErrSignature},
		{name: "EdDSA empty signature", token: withSig(good[EdDSA], nil), want: ErrSignature},

		// Header parameters that are refused.
		{name: "unknown crit", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","crit":["exp"],"exp":1}`, k.payload), want: ErrUnsupported},
		{name: "crit b64", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","crit":["b64"],"b64":false}`, k.payload), want: ErrUnsupported},
		{name: "crit empty list", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","crit":[]}`, k.payload), want: ErrUnsupported},
		{name: "embedded jwk", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","jwk":`+string(rsaPubJWK)+`}`, k.payload), want: ErrUnsupported},
		{name: "embedded jwk, attacker's key", token: attackerEmbeddedJWK(t, k.payload), want: ErrUnsupported},
		{name: "jku", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","jku":"https://attacker.example/jwks.json"}`, k.payload), want: ErrUnsupported},
		{name: "x5u", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","x5u":"https://attacker.example/cert.pem"}`, k.payload), want: ErrUnsupported},
		{name: "x5c", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","x5c":["`+base64.StdEncoding.EncodeToString(rsaPubDER)+`"]}`, k.payload), want: ErrUnsupported},
		{name: "jwk null", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","jwk":null}`, k.payload), want: ErrUnsupported},

		// Encoding of the segments.
		{name: "padded header", token: compact(enc(`{"alg":"RS256","kid":"rsa"}`)+"=", enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "padded signature", token: good[RS256] + "==", want: ErrMalformed},
		{name: "line break in the signature", token: good[RS256][:len(good[RS256])-8] + "\n" + good[RS256][len(good[RS256])-8:], want: ErrMalformed},
		{name: "CR LF in the header", token: "eyJh\r\n" + good[RS256][4:], want: ErrMalformed},
		{name: "space in the payload", token: strings.Replace(good[RS256], ".", ". ", 1), want: ErrMalformed},
		{name: "padded payload", token: compact(enc(`{"alg":"RS256","kid":"rsa"}`), base64.URLEncoding.EncodeToString([]byte(k.payload+" ")), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "standard base64 alphabet", token: stdAlphabet, want: ErrMalformed},
		{name: "non-canonical last character", token: lastBits, want: ErrMalformed},
		{name: "whitespace in a segment", token: strings.Replace(good[RS256], ".", ". ", 1), want: ErrMalformed},
		{name: "newline in a segment", token: good[RS256][:40] + "\n" + good[RS256][40:], want: ErrMalformed},
		{name: "empty header segment", token: compact("", enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},

		// Segment counts.
		{name: "empty token", token: "", want: ErrMalformed},
		{name: "1 segment", token: enc(`{"alg":"RS256"}`), want: ErrMalformed},
		{name: "2 segments", token: compact(enc(`{"alg":"RS256","kid":"rsa"}`), enc(k.payload)), want: ErrMalformed},
		{name: "4 segments", token: good[RS256] + ".AAAA", want: ErrMalformed},
		{name: "5 segments (JWE)", token: compact(enc(`{"alg":"RSA-OAEP","enc":"A256GCM"}`), "AAAA", "AAAA", "AAAA", "AAAA"), want: ErrMalformed},
		{name: "trailing dot", token: good[RS256] + ".", want: ErrMalformed},

		// Strict JSON in the header.
		{name: "duplicate alg in header", token: compact(enc(`{"alg":"RS256","kid":"rsa","alg":"none"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "duplicate kid in header", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa","kid":"ec"}`, k.payload), want: ErrMalformed},
		{name: "wrong-case Alg", token: compact(enc(`{"Alg":"RS256","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "wrong-case ALG beside alg", token: compact(enc(`{"alg":"RS256","ALG":"none","kid":"rsa"}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrSignature},
		{name: "invalid UTF-8 in header", token: compact(enc("{\"alg\":\"RS256\",\"kid\":\"rsa\xff\"}"), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "trailing garbage after header", token: compact(enc(`{"alg":"RS256","kid":"rsa"}x`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "two header objects", token: compact(enc(`{"alg":"RS256","kid":"rsa"}{}`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "header is an array", token: compact(enc(`["RS256"]`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "header is null", token: compact(enc(`null`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},
		{name: "header is not JSON", token: compact(enc(`alg=RS256`), enc(k.payload), b64.EncodeToString(rsSig)), want: ErrMalformed},

		// Strict JSON in the payload, behind a valid signature.
		{name: "duplicate exp in payload", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","exp":1,"exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrMalformed},
		{name: "duplicate private claim", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload[:len(k.payload)-1]+`,"role":"user","role":"admin"}`), want: ErrMalformed},
		{name: "payload is an array", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `[`+k.payload+`]`), want: ErrMalformed},
		{name: "payload is a string", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `"admin"`), want: ErrMalformed},
		{name: "payload is a number", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `1`), want: ErrMalformed},
		{name: "payload is null", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `null`), want: ErrMalformed},
		{name: "payload is true", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `true`), want: ErrMalformed},
		{name: "payload is empty", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, ``), want: ErrMalformed},
		{name: "payload not JSON", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `sub=admin`), want: ErrMalformed},
		{name: "trailing garbage after payload", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload+`x`), want: ErrMalformed},
		{name: "two payload objects", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload+`{}`), want: ErrMalformed},
		{name: "invalid UTF-8 in payload", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload[:len(k.payload)-1]+",\"name\":\"\xc3\x28\"}"), want: ErrMalformed},
		{name: "exp as a string", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","exp":"`+big.NewInt(int64(k.expiry)).String()+`"}`), want: ErrMalformed},
		{name: "exp as a boolean", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","exp":true}`), want: ErrMalformed},
		{name: "exp huge", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","exp":1e300}`), want: ErrMalformed},
		{name: "aud as a number", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":1,"exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrMalformed},
		{name: "aud as an array of numbers", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":[1],"exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrMalformed},
		{name: "iss as an object", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":{"x":1},"aud":"api","exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrMalformed},
		{name: "wrong-case Exp only", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","Exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrMissingClaim},

		// Claims the policy refuses, behind a valid signature.
		{name: "no exp", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api"}`), want: ErrMissingClaim},
		{name: "expired", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":"api","exp":`+big.NewInt(int64(NewNumericDate(testNow().Add(-time.Minute)))).String()+`}`), want: ErrExpired},
		{name: "wrong issuer", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://attacker.example","aud":"api","exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrIssuer},
		{name: "wrong audience", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, `{"iss":"https://issuer.example","aud":["other","API"],"exp":`+big.NewInt(int64(k.expiry)).String()+`}`), want: ErrAudience},

		// Size.
		{name: "oversized token", token: k.sign(RS256, k.rsa, `{"alg":"RS256","kid":"rsa"}`, k.payload[:len(k.payload)-1]+`,"pad":"`+strings.Repeat("a", DefaultMaxTokenSize)+`"}`), want: ErrTooLarge},
		{name: "oversized garbage", token: strings.Repeat("A", DefaultMaxTokenSize+1), want: ErrTooLarge},

		// RSA-1024 keys are refused wherever a key enters.
		{name: "RSA-1024 private key PEM", load: func() error { _, err := ParseKeyPEM(readTestdata(t, "keys", "rsa1024.pem")); return err }, want: ErrInvalidKey},
		{name: "RSA-1024 public key PEM", load: func() error { _, err := ParseKeyPEM(readTestdata(t, "keys", "rsa1024.pub.pem")); return err }, want: ErrInvalidKey},
		{name: "RSA-1024 public JWK", load: func() error { _, err := ParseJWK(rsa1024JWK(t)); return err }, want: ErrInvalidKey},
		{name: "RSA-1024 in a JWKS is skipped", load: func() error {
			set, err := ParseJWKS([]byte(`{"keys":[` + string(rsa1024JWK(t)) + `]}`))
			if err != nil {
				return err
			}
			if len(set.Keys) != 0 || len(set.Skipped) != 1 {
				t.Errorf("JWKS with an RSA-1024 key: %d keys, %d skipped", len(set.Keys), len(set.Skipped))
			}
			_, err = VerifyJWT(good[RS256], set, mustAlgs(t, RS256), k.policy())
			return err
		}, want: ErrKeyNotFound},
		{name: "RSA-1024 NewSigner", load: func() error { _, err := NewSigner(testKey(t, "rsa1024.pem"), RS256, ""); return err }, want: ErrInvalidKey},
		{name: "RSA-1024 NewJWK", load: func() error { _, err := NewJWK(testKey(t, "rsa1024.pem").Public(), RS256); return err }, want: ErrInvalidKey},
		{name: "RSA-1024 MarshalPrivateKeyPEM", load: func() error { _, err := MarshalPrivateKeyPEM(testKey(t, "rsa1024.pem")); return err }, want: ErrInvalidKey},
	}
	all := Algorithms()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.load != nil {
				err = tt.load()
			} else {
				algs := tt.algs
				if algs == nil {
					algs = all
				}
				var tok *Token
				tok, err = VerifyJWT(tt.token, k.set, mustAlgs(t, algs...), k.policy())
				if err == nil {
					t.Fatalf("accepted, claims %+v", tok.Claims)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			t.Log(err)
			// Exactly one category per error.
			for _, other := range categories() {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v is also %v", err, other)
				}
			}
		})
	}
}

// categories lists the error categories of the package.
func categories() []error {
	return []error{ErrMalformed, ErrTooLarge, ErrUnsupported, ErrAlgorithmNotAllowed, ErrKeyNotFound, ErrSignature, ErrInvalidKey, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrMissingClaim, ErrType}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func bytesOf(b byte, n int) []byte {
	return []byte(strings.Repeat(string([]byte{b}), n))
}

// addL adds the Ed25519 group order L to the little-endian scalar s in place.
func addL(s []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range s {
		v := int(s[i]) + int(l[i]) + carry
		s[i] = byte(v)
		carry = v >> 8
	}
}

// mustECKey returns a fresh P-256 key, an attacker's.
func mustECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := GenerateKey(ES256, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// attackerEmbeddedJWK signs payload with a fresh key and embeds that key's
// public JWK in the header, the way CVE-2018-0114 forgeries do.
func attackerEmbeddedJWK(tb testing.TB, payload string) string {
	tb.Helper()
	key := mustECKey(tb)
	pub, err := NewJWK(key.Public(), ES256)
	if err != nil {
		tb.Fatal(err)
	}
	j, err := pub.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	header := `{"alg":"ES256","kid":"ec","jwk":` + string(j) + `}`
	input := enc(header) + "." + enc(payload)
	s, err := NewSigner(key, ES256, "")
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := s.signRaw([]byte(input))
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// rsa1024JWK returns the public JWK of the RSA-1024 test key, written by
// hand because this package refuses to write it.
func rsa1024JWK(tb testing.TB) []byte {
	tb.Helper()
	pub := testKey(tb, "rsa1024.pem").Public().(*rsa.PublicKey)
	return []byte(`{"kty":"RSA","kid":"small","n":"` + b64.EncodeToString(pub.N.Bytes()) + `","e":"AQAB"}`)
}
