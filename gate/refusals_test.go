package gate

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// logRecorder is a slog.Handler that keeps every record at or above its
// level.
type logRecorder struct {
	level slog.Level
	mu    sync.Mutex
	recs  []slog.Record
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// line is the part of a log record the tests look at.
type line struct {
	at     time.Time
	level  slog.Level
	msg    string
	reason string
	status int64
	count  int64
	err    string
}

func (h *logRecorder) lines(msg string) []line {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []line
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		l := line{at: r.Time, level: r.Level, msg: r.Message}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "reason":
				l.reason = a.Value.String()
			case "status":
				l.status = a.Value.Int64()
			case "count":
				l.count = a.Value.Int64()
			case "error":
				l.err = a.Value.String()
			}
			return true
		})
		out = append(out, l)
	}
	return out
}

// reasonCounter is a RefusalObserver that counts by reason.
type reasonCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *reasonCounter) Refused(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[reason]++
}

func (c *reasonCounter) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[reason]
}

// demoGate is the demo API's handler with static keys, for tests inside a
// synctest bubble (no network).
func demoGate(t *testing.T, key *testKey, cfg Config) http.Handler {
	t.Helper()
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = v
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(t *testing.T, h http.Handler, token string) int {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/protected", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestRefusalFloodLogsOneLinePerInterval: 3 500 requests with a token for
// another audience, one every 10 ms for 35 s of fake time, make four lines
// at the default level (info): the first refusal at once, then one per 10 s
// with the refusals folded into it; none of them carries the token.
func TestRefusalFloodLogsOneLinePerInterval(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecorder{level: slog.LevelInfo}
		h := demoGate(t, key, Config{Logger: slog.New(logs)})
		start := time.Now()
		token := key.token(t, func(c *jose.Claims) {
			c.Audience = jose.Audience{"other-api"}
			c.Expiry = jose.NewNumericDate(start.Add(time.Hour))
		})
		const n = 3500
		for i := range n {
			if code := serve(t, h, token); code != http.StatusUnauthorized {
				t.Fatalf("request %d: %d", i, code)
			}
			time.Sleep(10 * time.Millisecond)
		}
		got := logs.lines("requests_refused")
		wantCounts := []int64{1, 1000, 1000, 1000}
		if len(got) != len(wantCounts) {
			t.Fatalf("%d lines, want %d: %+v", len(got), len(wantCounts), got)
		}
		for i, l := range got {
			if want := start.Add(time.Duration(i) * 10 * time.Second); !l.at.Equal(want) {
				t.Errorf("line %d at %v, want %v", i, l.at.Sub(start), want.Sub(start))
			}
			if l.level != slog.LevelInfo || l.reason != "audience" || l.status != http.StatusUnauthorized || l.count != wantCounts[i] {
				t.Errorf("line %d: %+v, want reason audience, status 401, count %d at info", i, l, wantCounts[i])
			}
			if !strings.Contains(l.err, "other-api") || strings.Contains(l.err, token) {
				t.Errorf("line %d error %q", i, l.err)
			}
		}
		if len(logs.lines("request_refused")) != 0 {
			t.Error("a per-request line at info level")
		}
	})
}

// TestRefusalsByReason: every refusal is counted under its reason, each
// reason has its own interval of lines, an unavailable key source logs at
// warn, and at debug level every refusal has its own line as well.
func TestRefusalsByReason(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	other := loadKey(t, "rsa-b.pem")
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecorder{level: slog.LevelDebug}
		counts := &reasonCounter{}
		h := demoGate(t, key, Config{Logger: slog.New(logs), Refusals: counts, RefusalLogEvery: time.Minute})
		tokens := map[string]string{
			"missing_token": "",
			"issuer":        key.token(t, func(c *jose.Claims) { c.Issuer = "http://localhost:4000" }),
			"expired":       key.token(t, func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(time.Now().Add(-time.Hour)) }),
			"key_not_found": other.token(t, nil),
			"malformed":     "a.b.c",
		}
		const rounds = 50
		for range rounds {
			for _, tok := range tokens {
				serve(t, h, tok)
			}
			time.Sleep(2 * time.Second) // 100 s in all: two lines per reason
		}
		lines := logs.lines("requests_refused")
		for reason := range tokens {
			if got := counts.get(reason); got != rounds {
				t.Errorf("%s counted %d times, want %d", reason, got, rounds)
			}
			var ls []line
			for _, l := range lines {
				if l.reason == reason {
					ls = append(ls, l)
				}
			}
			if len(ls) != 2 || ls[0].count != 1 || ls[1].count != 30 || ls[0].level != slog.LevelInfo {
				t.Errorf("%s: lines %+v, want 2 at info with counts 1 and 30", reason, ls)
			}
		}
		if got := len(logs.lines("request_refused")); got != rounds*len(tokens) {
			t.Errorf("%d debug lines, want %d", got, rounds*len(tokens))
		}
		for _, l := range lines {
			if l.reason == "issuer" && !strings.Contains(l.err, "http://localhost:4000") {
				t.Errorf("issuer line does not name the token's issuer: %q", l.err)
			}
		}
	})
}

// TestRefusalUnavailableLogsWarn: an unavailable key source refuses with
// 503 and says so at warn, once per interval.
func TestRefusalUnavailableLogsWarn(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	synctest.Test(t, func(t *testing.T) {
		v, err := verifier.New(verifier.Config{
			Keys:       unavailableKeys{},
			Issuers:    []string{testIssuer},
			Audiences:  []string{testAudience},
			Algorithms: []jose.Algorithm{jose.RS256},
		})
		if err != nil {
			t.Fatal(err)
		}
		logs := &logRecorder{level: slog.LevelInfo}
		counts := &reasonCounter{}
		h, err := New(Config{Verifier: v, Logger: slog.New(logs), Refusals: counts})
		if err != nil {
			t.Fatal(err)
		}
		token := key.token(t, nil)
		for range 100 {
			if code := serve(t, h, token); code != http.StatusServiceUnavailable {
				t.Fatalf("status %d", code)
			}
			time.Sleep(100 * time.Millisecond)
		}
		got := logs.lines("requests_refused")
		if len(got) != 1 || got[0].level != slog.LevelWarn || got[0].reason != "key_source_unavailable" || got[0].status != 503 {
			t.Fatalf("lines %+v", got)
		}
		if counts.get("key_source_unavailable") != 100 {
			t.Fatalf("counted %d", counts.get("key_source_unavailable"))
		}
	})
}

// unavailableKeys is a key source that never has keys.
type unavailableKeys struct{}

func (unavailableKeys) Keys(context.Context, string) (jose.KeySet, error) {
	return nil, errUnavailable
}

var errUnavailable = errorString("issuer unreachable")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestRefusalLogBounded: however many distinct bad tokens arrive, the
// refusal log holds one entry per reason, and reasons are a fixed set.
func TestRefusalLogBounded(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := newRefusalLog(slog.New(slog.DiscardHandler), 0, nil)
	mc := verifier.MiddlewareConfig{ErrorHandler: refusalHandler("keyward", slog.New(slog.DiscardHandler), lines, nil)}
	h := verifier.Middleware(v, mc)(http.NotFoundHandler())
	for i := range 400 {
		var tok string
		switch i % 4 {
		case 0:
			tok = key.token(t, func(c *jose.Claims) { c.Issuer = "https://evil.example/" + strings.Repeat("x", i%97) })
		case 1:
			tok = key.token(t, func(c *jose.Claims) { c.Audience = jose.Audience{string(rune('a' + i%26))} })
		case 2:
			tok = "x" + strings.Repeat("y", i%50) + ".z.w"
		case 3:
			tok = key.token(t, nil)[:200+i%100]
		}
		serve(t, h, tok)
	}
	lines.mu.Lock()
	n := len(lines.byReason)
	lines.mu.Unlock()
	if n > 4 {
		t.Fatalf("%d entries for 4 kinds of bad token", n)
	}
}

func TestRefusalReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{verifier.ErrNoToken, "missing_token"},
		{verifier.ErrDPoPRequired, "dpop_required"},
		{verifier.ErrInvalidRequest, "invalid_request"},
		{verifier.ErrInsufficientScope, "insufficient_scope"},
		{jose.ErrExpired, "expired"},
		{jose.ErrAudience, "audience"},
		{jose.ErrIssuer, "issuer"},
		{jose.ErrSignature, "signature"},
		{jose.ErrKeyNotFound, "key_not_found"},
		{jose.ErrMalformed, "malformed"},
		{jose.ErrType, "type"},
		{verifier.ErrRevoked, "revoked"},
		{verifier.ErrKeySourceUnavailable, "key_source_unavailable"},
		{errUnavailable, "other"},
	}
	for _, tt := range tests {
		if got := RefusalReason(tt.err); got != tt.want {
			t.Errorf("RefusalReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
