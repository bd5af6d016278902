package dpop

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

const (
	testURL   = "https://api.example.com/orders/42"
	testToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
)

// proofSpec describes a proof to build; the zero values of its fields are
// those of a valid proof of ES256 key for GET testURL with testToken at t0.
type proofSpec struct {
	key    crypto.Signer // signs, and is the jwk unless jwk is set
	alg    string
	header string         // the whole header, overriding everything
	jwk    string         // the jwk member's JSON
	claims map[string]any // members replacing (nil value: removing) the defaults
	secret []byte         // sign with HMAC instead
	none   bool           // leave the signature empty
}

func (s proofSpec) build(t *testing.T, def crypto.Signer) string {
	t.Helper()
	key := s.key
	if key == nil {
		key = def
	}
	alg := s.alg
	if alg == "" {
		a, err := jose.DefaultAlgorithm(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		alg = string(a)
	}
	jwk := s.jwk
	if jwk == "" {
		jwk = publicJWK(t, key)
	}
	header := s.header
	if header == "" {
		header = `{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + jwk + `}`
	}
	c := map[string]any{
		"jti": "id-" + t.Name(),
		"htm": "GET",
		"htu": testURL,
		"iat": t0.Unix(),
		"ath": ATH(testToken),
	}
	for k, v := range s.claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	payload := claimsJSON(t, c)
	switch {
	case s.none:
		return signRaw(t, nil, alg, header, payload)
	case s.secret != nil:
		return signRaw(t, s.secret, alg, header, payload)
	}
	return signRaw(t, key, alg, header, payload)
}

func newChecker(t *testing.T, cfg Config) *Checker {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	c, err := NewChecker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCheckAttacks is the attack table of proofs: every case but the
// valid ones must fail with the error given.
func TestCheckAttacks(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	other := newEC(t, elliptic.P256())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaK := testRSA(t)
	p521 := newEC(t, elliptic.P521())
	secret := []byte("0123456789abcdef0123456789abcdef")
	oct := `{"kty":"oct","k":"` + b64.EncodeToString(secret) + `"}`

	tests := []struct {
		name   string
		spec   proofSpec
		method string
		url    string
		token  string
		want   error // nil: accepted
	}{
		{name: "valid ES256", spec: proofSpec{}},
		{name: "valid EdDSA", spec: proofSpec{key: ed}},
		{name: "valid RS256", spec: proofSpec{key: rsaK, alg: "RS256"}},
		{name: "valid PS256", spec: proofSpec{key: rsaK, alg: "PS256"}},
		{name: "valid, normalized URL", url: "HTTPS://API.Example.COM:443/orders/%34%32?page=2#top"},
		{name: "valid, no access token and no ath", spec: proofSpec{claims: map[string]any{"ath": nil}}, token: "-"},
		{name: "valid, no access token, ath ignored", spec: proofSpec{claims: map[string]any{"ath": "whatever"}}, token: "-"},
		{name: "valid, nonce ignored without nonces", spec: proofSpec{claims: map[string]any{"nonce": "n"}}},
		{name: "valid, iat at the edge of the window", spec: proofSpec{claims: map[string]any{"iat": t0.Add(-DefaultWindow).Unix()}}},
		{name: "valid, iat ahead at the edge", spec: proofSpec{claims: map[string]any{"iat": t0.Add(DefaultWindow).Unix()}}},

		{name: "wrong htm", spec: proofSpec{claims: map[string]any{"htm": "POST"}}, want: ErrInvalidProof},
		{name: "htm in lower case", spec: proofSpec{claims: map[string]any{"htm": "get"}}, want: ErrInvalidProof},
		{name: "htu other host", spec: proofSpec{claims: map[string]any{"htu": "https://evil.example.com/orders/42"}}, want: ErrInvalidProof},
		{name: "htu other path", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com/orders/43"}}, want: ErrInvalidProof},
		{name: "htu path prefix", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com/orders"}}, want: ErrInvalidProof},
		{name: "htu other scheme", spec: proofSpec{claims: map[string]any{"htu": "http://api.example.com/orders/42"}}, want: ErrInvalidProof},
		{name: "htu other port", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com:8443/orders/42"}}, want: ErrInvalidProof},
		{name: "htu with query", spec: proofSpec{claims: map[string]any{"htu": testURL + "?page=2"}}, want: ErrInvalidProof},
		{name: "htu with empty query", spec: proofSpec{claims: map[string]any{"htu": testURL + "?"}}, want: ErrInvalidProof},
		{name: "htu with fragment", spec: proofSpec{claims: map[string]any{"htu": testURL + "#x"}}, want: ErrInvalidProof},
		{name: "htu with user info", spec: proofSpec{claims: map[string]any{"htu": "https://u@api.example.com/orders/42"}}, want: ErrInvalidProof},
		{name: "htu relative", spec: proofSpec{claims: map[string]any{"htu": "/orders/42"}}, want: ErrInvalidProof},
		{name: "htu encoded slash", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com/orders%2F42"}}, want: ErrInvalidProof},
		{name: "iat too old", spec: proofSpec{claims: map[string]any{"iat": t0.Add(-DefaultWindow - time.Second).Unix()}}, want: ErrInvalidProof},
		{name: "iat in the future", spec: proofSpec{claims: map[string]any{"iat": t0.Add(DefaultWindow + time.Second).Unix()}}, want: ErrInvalidProof},
		{name: "no iat", spec: proofSpec{claims: map[string]any{"iat": nil}}, want: ErrInvalidProof},
		{name: "iat a string", spec: proofSpec{claims: map[string]any{"iat": "1800000000"}}, want: ErrInvalidProof},
		{name: "no jti", spec: proofSpec{claims: map[string]any{"jti": nil}}, want: ErrInvalidProof},
		{name: "no htm", spec: proofSpec{claims: map[string]any{"htm": nil}}, want: ErrInvalidProof},
		{name: "no htu", spec: proofSpec{claims: map[string]any{"htu": nil}}, want: ErrInvalidProof},
		{name: "htu not a string", spec: proofSpec{claims: map[string]any{"htu": 7}}, want: ErrInvalidProof},
		{name: "wrong ath", spec: proofSpec{claims: map[string]any{"ath": ATH("another token")}}, want: ErrInvalidProof},
		{name: "no ath with a token", spec: proofSpec{claims: map[string]any{"ath": nil}}, want: ErrInvalidProof},
		{name: "jwk with private members", spec: proofSpec{jwk: privateJWK(t, ec)}, want: ErrInvalidProof},
		{name: "jwk oct", spec: proofSpec{alg: "HS256", jwk: oct, secret: secret}, want: ErrInvalidProof},
		{name: "HS256 with an EC jwk", spec: proofSpec{alg: "HS256", secret: secret}, want: ErrInvalidProof},
		{name: "alg none", spec: proofSpec{alg: "none", none: true}, want: ErrInvalidProof},
		{name: "alg None", spec: proofSpec{alg: "None", none: true}, want: ErrInvalidProof},
		{name: "unsigned ES256", spec: proofSpec{none: true}, want: ErrInvalidProof},
		{name: "alg outside the allowlist", spec: proofSpec{key: p521}, want: ErrInvalidProof},
		{name: "alg not bound to the key", spec: proofSpec{alg: "RS256"}, want: ErrInvalidProof},
		{name: "signed by another key than jwk", spec: proofSpec{jwk: publicJWK(t, other)}, want: ErrInvalidProof},
		{name: "no jwk", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"ES256"}`}, want: ErrInvalidProof},
		{name: "jwk null", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"ES256","jwk":null}`}, want: ErrInvalidProof},
		{name: "no typ", spec: proofSpec{header: `{"alg":"ES256","jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "typ JWT", spec: proofSpec{header: `{"typ":"JWT","alg":"ES256","jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "typ with media prefix", spec: proofSpec{header: `{"typ":"application/dpop+jwt","alg":"ES256","jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "crit", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"ES256","crit":["x"],"x":1,"jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "x5c", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"ES256","x5c":["AA"],"jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "duplicate jwk", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"ES256","jwk":` + publicJWK(t, other) + `,"jwk":` + publicJWK(t, ec) + `}`}, want: ErrInvalidProof},
		{name: "method differs from htm", method: "DELETE", want: ErrInvalidProof},
		{name: "request to another path", url: "https://api.example.com/orders/4", want: ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChecker(t, Config{})
			proof := tt.spec.build(t, ec)
			method, target, token := "GET", testURL, testToken
			if tt.method != "" {
				method = tt.method
			}
			if tt.url != "" {
				target = tt.url
			}
			if tt.token == "-" {
				token = ""
			} else if tt.token != "" {
				token = tt.token
			}
			p, err := c.Check(proof, method, mustURL(t, target), token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				key := tt.spec.key
				if key == nil {
					key = ec
				}
				jkt, _ := jose.Thumbprint(key.Public())
				if p.JKT != jkt || p.Method != method || p.URL != testURL || p.ID == "" || !p.Key.IsPublic() {
					t.Errorf("Check = %+v, want jkt %s", p, jkt)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, %v; want %v", p, err, tt.want)
			}
			t.Log(err)
			if p != nil {
				t.Errorf("Check returned a proof with an error")
			}
		})
	}
}

func TestCheckReplay(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	other := newEC(t, elliptic.P256())
	now := t0
	c := newChecker(t, Config{Now: func() time.Time { return now }})
	proof := proofSpec{}.build(t, ec)
	target := mustURL(t, testURL)
	if _, err := c.Check(proof, "GET", target, testToken); err != nil {
		t.Fatal(err)
	}
	// The same proof again, and again near the end of its window.
	for _, at := range []time.Duration{0, DefaultWindow} {
		now = t0.Add(at)
		if _, err := c.Check(proof, "GET", target, testToken); !errors.Is(err, ErrReplay) || !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("replay after %s: %v, want ErrReplay", at, err)
		}
	}
	// Past the window it is refused as too old, not as a replay.
	now = t0.Add(DefaultWindow + time.Second)
	if _, err := c.Check(proof, "GET", target, testToken); err == nil || errors.Is(err, ErrReplay) {
		t.Fatalf("after the window: %v, want too old", err)
	}
	// The same jti from another key is another proof.
	now = t0
	if _, err := c.Check(proofSpec{key: other}.build(t, ec), "GET", target, testToken); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

// TestReplayCacheBounded fills the cache and checks that it refuses new
// proofs rather than forget old ones, and takes them again once the old
// ones have left the window.
func TestReplayCacheBounded(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	now := t0
	c := newChecker(t, Config{Now: func() time.Time { return now }, ReplayCacheSize: 3})
	target := mustURL(t, testURL)
	proof := func(i int) string {
		return proofSpec{claims: map[string]any{"jti": string(rune('a' + i))}}.build(t, ec)
	}
	first := proof(0)
	for i, p := range []string{first, proof(1), proof(2)} {
		if _, err := c.Check(p, "GET", target, testToken); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	if _, err := c.Check(proof(3), "GET", target, testToken); !errors.Is(err, ErrReplayCacheFull) || errors.Is(err, ErrInvalidProof) {
		t.Fatalf("fourth proof: %v, want ErrReplayCacheFull", err)
	}
	if _, err := c.Check(first, "GET", target, testToken); !errors.Is(err, ErrReplay) {
		t.Fatalf("first proof again: %v, want ErrReplay", err)
	}
	// Once the first three left the window, new proofs are taken.
	now = t0.Add(DefaultWindow + time.Second)
	fresh := proofSpec{claims: map[string]any{"jti": "fresh", "iat": now.Unix()}}.build(t, ec)
	if _, err := c.Check(fresh, "GET", target, testToken); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if n := c.replay.len(); n != 1 {
		t.Errorf("replay cache holds %d proofs, want 1", n)
	}
}

// TestCheckBound checks that a proof of another key than the bound one is
// refused before it is recorded.
func TestCheckBound(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	other := newEC(t, elliptic.P256())
	c := newChecker(t, Config{})
	target := mustURL(t, testURL)
	jkt, _ := jose.Thumbprint(ec.Public())
	otherJKT, _ := jose.Thumbprint(other.Public())
	proof := proofSpec{}.build(t, ec)
	if _, err := c.CheckBound(proof, "GET", target, testToken, otherJKT); !errors.Is(err, ErrKeyMismatch) || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("CheckBound with another key: %v", err)
	}
	if n := c.replay.len(); n != 0 {
		t.Fatalf("a proof of another key was recorded")
	}
	if _, err := c.CheckBound(proof, "GET", target, testToken, jkt); err != nil {
		t.Fatalf("CheckBound: %v", err)
	}
	if _, err := c.CheckBound(proof, "GET", target, testToken, ""); err == nil {
		t.Fatal("CheckBound without a thumbprint passed")
	}
}

func TestCheckNonces(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	now := t0
	clock := func() time.Time { return now }
	secret := []byte("an example nonce secret of 32 by")
	nonces, err := NewNonces(secret, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewNonces([]byte("another nonce secret of 32 bytes"), time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	current := nonces.Current()
	tests := []struct {
		name  string
		nonce any
		at    time.Duration
		want  error
	}{
		{name: "current", nonce: current},
		{name: "previous period", nonce: current, at: time.Minute},
		{name: "missing", nonce: nil, want: ErrUseNonce},
		{name: "empty", nonce: "", want: ErrUseNonce},
		{name: "stale", nonce: current, at: 2 * time.Minute, want: ErrUseNonce},
		{name: "another secret's", nonce: foreign.Current(), want: ErrUseNonce},
		{name: "garbage", nonce: "garbage", want: ErrUseNonce},
		{name: "not a string", nonce: 42, want: ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests move the shared clock.
			now = t0.Add(tt.at)
			c := newChecker(t, Config{Now: clock, Nonces: nonces})
			proof := proofSpec{claims: map[string]any{"nonce": tt.nonce, "iat": now.Unix()}}.build(t, ec)
			_, err := c.Check(proof, "GET", mustURL(t, testURL), testToken)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrUseNonce) && errors.Is(err, ErrInvalidProof) {
				t.Error("ErrUseNonce also reads as ErrInvalidProof")
			}
		})
	}
}

func TestNonces(t *testing.T) {
	t.Parallel()
	now := t0
	clock := func() time.Time { return now }
	secret := make([]byte, 32)
	a, err := NewNonces(secret, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewNonces(secret, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	n := a.Current()
	if !b.Valid(n) || !a.Valid(n) {
		t.Fatal("a replica refuses a nonce of the same secret")
	}
	if a.Valid(n[:len(n)-1]+"A") && !strings.HasSuffix(n, "A") {
		t.Error("a nonce with another tag is valid")
	}
	now = now.Add(time.Minute)
	if !a.Valid(n) || a.Current() == n {
		t.Error("the previous period's nonce is not valid, or the nonce did not change")
	}
	now = now.Add(time.Minute)
	if a.Valid(n) {
		t.Error("a nonce two periods old is valid")
	}
	for _, bad := range []struct {
		secret []byte
		period time.Duration
	}{{make([]byte, 31), time.Minute}, {secret, 0}, {secret, -time.Second}} {
		if _, err := NewNonces(bad.secret, bad.period, nil); err == nil {
			t.Errorf("NewNonces(%d bytes, %s) passed", len(bad.secret), bad.period)
		}
	}
}

func TestNewChecker(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Algorithms: []jose.Algorithm{jose.HS256}},
		{Algorithms: []jose.Algorithm{"none"}},
		{Algorithms: []jose.Algorithm{jose.ES256, jose.HS512}},
		{Window: -time.Second},
		{Leeway: -time.Second},
		{MaxProofSize: -1},
		{ReplayCacheSize: -1},
	} {
		if _, err := NewChecker(cfg); err == nil {
			t.Errorf("NewChecker(%+v) passed", cfg)
		}
	}
	c := newChecker(t, Config{})
	if got := c.Algorithms(); len(got) != 5 {
		t.Errorf("default algorithms %v", got)
	}
}

func TestCheckSizeAndWindowConfig(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	proof := proofSpec{claims: map[string]any{"iat": t0.Add(-90 * time.Second).Unix()}}.build(t, ec)
	target := mustURL(t, testURL)
	if _, err := newChecker(t, Config{MaxProofSize: len(proof) - 1, Window: 2 * time.Minute}).Check(proof, "GET", target, testToken); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("oversized proof: %v", err)
	}
	if _, err := newChecker(t, Config{Window: 2 * time.Minute}).Check(proof, "GET", target, testToken); err != nil {
		t.Errorf("a 90 s old proof with a 2 min window: %v", err)
	}
	if _, err := newChecker(t, Config{Window: time.Minute, Leeway: 30 * time.Second}).Check(proof, "GET", target, testToken); err != nil {
		t.Errorf("a 90 s old proof with 1 min window and 30 s leeway: %v", err)
	}
	if _, err := newChecker(t, Config{}).Check(proof, "GET", target, testToken); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("a 90 s old proof with the default window: %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://api.example.com/a", "https://api.example.com/a"},
		{"HTTPS://API.EXAMPLE.COM/a", "https://api.example.com/a"},
		{"https://api.example.com:443/a", "https://api.example.com/a"},
		{"http://api.example.com:80/a", "http://api.example.com/a"},
		{"http://api.example.com:443/a", "http://api.example.com:443/a"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com/a?b=c#d", "https://api.example.com/a"},
		{"https://api.example.com/%7euser/%2f%c3%a9", "https://api.example.com/~user/%2F%C3%A9"},
		{"https://api.example.com/A", "https://api.example.com/A"},
		{"https://[::1]:8443/x", "https://[::1]:8443/x"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"ftp://api.example.com/", ""},
		{"/relative", ""},
		{"https://user:pw@api.example.com/", ""},
		{"mailto:x@example.com", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeURL(mustURL(t, tt.in))
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := NormalizeURL(nil); err == nil {
		t.Error("NormalizeURL(nil) passed")
	}
}

func TestFromRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		vals []string
		ok   bool
	}{{nil, false}, {[]string{"p"}, true}, {[]string{"p", "q"}, false}} {
		r, _ := http.NewRequest("GET", testURL, nil)
		for _, v := range tt.vals {
			r.Header.Add("Dpop", v)
		}
		p, err := FromRequest(r)
		if tt.ok != (err == nil) || tt.ok && p != "p" {
			t.Errorf("FromRequest(%q) = %q, %v", tt.vals, p, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidProof) {
			t.Errorf("FromRequest error %v is not ErrInvalidProof", err)
		}
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil:                 "",
		ErrReplay:           "dpop_replay",
		ErrUseNonce:         "dpop_use_nonce",
		ErrReplayCacheFull:  "dpop_replay_cache_full",
		ErrKeyQuota:         "dpop_key_quota",
		invalid("x"):        "dpop_invalid",
		errors.New("other"): "",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestProofSigner checks that the client's proofs pass the checker, for
// each key type, and carry what they should.
func TestProofSigner(t *testing.T) {
	t.Parallel()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key crypto.Signer
		alg jose.Algorithm
	}{
		{newEC(t, elliptic.P256()), ""},
		{newEC(t, elliptic.P384()), ""},
		{ed, ""},
		{testRSA(t), ""},
		{testRSA(t), jose.PS256},
	} {
		s, err := NewProofSigner(tt.key, tt.alg, fixedNow, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := newChecker(t, Config{})
		proof, err := s.Sign("POST", mustURL(t, testURL+"?q=1#f"), testToken, "n-1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Check(proof, "POST", mustURL(t, testURL+"?other"), testToken)
		if err != nil {
			t.Fatalf("%s: Check: %v", s.Algorithm(), err)
		}
		if p.JKT != s.JKT() || p.Nonce != "n-1" || p.ATH != ATH(testToken) || !p.IssuedAt.Equal(t0) {
			t.Errorf("%s: proof %+v", s.Algorithm(), p)
		}
		// Two proofs never share a jti.
		again, _ := s.Sign("POST", mustURL(t, testURL), testToken, "n-1")
		if _, err := c.Check(again, "POST", mustURL(t, testURL), testToken); err != nil {
			t.Errorf("%s: second proof: %v", s.Algorithm(), err)
		}
	}
	if _, err := NewProofSigner(newEC(t, elliptic.P256()), jose.HS256, nil, nil); err == nil {
		t.Error("NewProofSigner with HS256 passed")
	}
	if _, err := NewProofSigner(newEC(t, elliptic.P256()), jose.RS256, nil, nil); err == nil {
		t.Error("NewProofSigner with RS256 on an EC key passed")
	}
	proof, err := NewProof(ed, "GET", testURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, Config{Now: time.Now})
	if _, err := c.Check(proof, "GET", mustURL(t, testURL), ""); err != nil {
		t.Errorf("NewProof: %v", err)
	}
}

// TestSignEmbeddedRoundTrip checks that the embedded key carries no
// private member and that jose.Parse still refuses such a JWS.
func TestSignEmbeddedRoundTrip(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	s, err := NewProofSigner(ec, "", fixedNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := s.Sign("GET", mustURL(t, testURL), "", "")
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := strings.Cut(proof, ".")
	hb, _ := b64.DecodeString(h)
	if strings.Contains(string(hb), `"d"`) || strings.Contains(string(hb), `"kid"`) {
		t.Errorf("header %s", hb)
	}
	if _, err := jose.Parse(proof); !errors.Is(err, jose.ErrUnsupported) {
		t.Errorf("jose.Parse of a proof: %v, want ErrUnsupported", err)
	}
}

// TestKeyCache checks that the key of an accepted proof is reused for the
// client's next proofs, that only accepted proofs enter the cache, and
// that a proof with a cached header is still verified with that header's
// key.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	other := newEC(t, elliptic.P256())
	c := newChecker(t, Config{})
	target := mustURL(t, testURL)
	jkt, _ := jose.Thumbprint(ec.Public())
	bad := proofSpec{claims: map[string]any{"jti": "bad", "htm": "POST"}}.build(t, ec)
	if _, err := c.Check(bad, "GET", target, testToken); err == nil {
		t.Fatal("bad proof passed")
	}
	if c.keys.Len() != 0 {
		t.Fatal("a refused proof's key was cached")
	}
	for i := range 3 {
		p, err := c.Check(proofSpec{claims: map[string]any{"jti": strconv.Itoa(i)}}.build(t, ec), "GET", target, testToken)
		if err != nil || p.JKT != jkt {
			t.Fatalf("proof %d: %v, jkt %v", i, err, p)
		}
	}
	if c.keys.Len() != 1 {
		t.Fatalf("key cache holds %d keys, want 1", c.keys.Len())
	}
	// The header of ec's proofs (its jwk) over a signature by another key.
	forged := proofSpec{key: other, jwk: publicJWK(t, ec), alg: "ES256", claims: map[string]any{"jti": "forged"}}.build(t, ec)
	if _, err := c.Check(forged, "GET", target, testToken); !errors.Is(err, ErrInvalidProof) || !errors.Is(err, jose.ErrSignature) {
		t.Fatalf("forged proof with a cached header: %v", err)
	}
	off := newChecker(t, Config{KeyCacheSize: -1})
	if _, err := off.Check(proofSpec{}.build(t, ec), "GET", target, testToken); err != nil || off.keys != nil {
		t.Fatalf("without a key cache: %v", err)
	}
}
