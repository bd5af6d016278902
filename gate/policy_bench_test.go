package gate

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// benchPolicy has ten routes over two issuers; GET /protected, the demo
// API's, is decided by the last one, so that a request walks every route.
const benchPolicy = `
issuers:
  keyward:
    issuer: https://issuer.example
    audiences: [api]
  legacy:
    issuer: http://localhost:4000
    key-files: legacy.pem
    audiences: [api]
routes:
  - {name: home, path: /, methods: [GET], public: true}
  - {name: static, path: /static/*, methods: [GET], public: true}
  - {name: healthz, path: /healthz, public: true}
  - {name: orders-read, path: /orders/*, methods: [GET], any-scope: [read:orders]}
  - {name: orders-write, path: /orders/*, methods: [POST, PUT, DELETE], issuers: [keyward], all-scopes: [write:orders]}
  - {name: admin, path: /admin/*, issuers: [keyward], any-role: [admin]}
  - {name: reports, path: /reports/*, issuers: [legacy], any-scope: [reports]}
  - {name: me, path: /me}
  - {name: partners, path: /partners/*, claims: {tenant: {any: [acme]}}}
  - {name: protected, path: /protected, methods: [GET], issuers: [keyward, legacy], any-scope: [read, write]}
`

// benchGates returns the single-issuer gate and the ten-route, two-issuer
// policy gate, both in demo mode with the verified-token cache, and a
// token both accept.
func benchGates(tb testing.TB) (single, policy http.Handler, token string) {
	tb.Helper()
	return benchGatesObserved(tb, nil)
}

// benchGatesObserved is benchGates with the gates' latencies reported to
// obs, as the gate binary's HTTP metrics have them; nil reports none.
func benchGatesObserved(tb testing.TB, obs HTTPObserver) (single, policy http.Handler, token string) {
	tb.Helper()
	kw, lg := loadKey(&testing.T{}, "rsa-a.pem"), loadKey(&testing.T{}, "rsa-b.pem")
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{kw.pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		tb.Fatal(err)
	}
	single, err = New(Config{Verifier: v, HTTPMetrics: obs})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := compileBenchPolicy(tb, benchPolicy, kw, lg)
	if err != nil {
		tb.Fatal(err)
	}
	policy, err = New(Config{Policies: NewPolicies(p), PolicyMetrics: &countingPolicyObserver{m: map[string]*atomic.Int64{}}, HTTPMetrics: obs})
	if err != nil {
		tb.Fatal(err)
	}
	return single, policy, kw.token(&testing.T{}, nil)
}

// compileBenchPolicy compiles src over the static keys of kw (issuer
// "keyward") and lg (the others), as the single-issuer gate of benchGates
// has them: the key sets are the same kind on both sides of a comparison.
func compileBenchPolicy(tb testing.TB, src string, kw, lg *testKey) (*Policy, error) {
	tb.Helper()
	spec, err := ParsePolicy("policy.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	var issuers []verifier.Issuer
	for _, is := range spec.Issuers {
		key := lg
		if is.Name == "keyward" {
			key = kw
		}
		issuers = append(issuers, verifier.Issuer{Name: is.Name, Config: verifier.Config{
			Keys:    verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
			Issuers: []string{is.Issuer}, Audiences: is.Audiences, Algorithms: []jose.Algorithm{jose.RS256},
		}})
	}
	v, err := verifier.NewMulti(verifier.MultiConfig{Issuers: issuers})
	if err != nil {
		return nil, err
	}
	return CompilePolicy(spec, v)
}

// serveCached serves one GET /protected with token, built as net/http
// builds a request, and reports its status.
func serveCached(h http.Handler, proto *http.Request, auth string) int {
	r := *proto
	r.Header = http.Header{"Authorization": {auth}}
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, &r)
	return w.status
}

// discardLatencies is an HTTPObserver that keeps nothing.
type discardLatencies struct{}

func (discardLatencies) ObserveRequest(string, int, time.Duration) {}

// BenchmarkPolicyCached pairs the cached path of the single-issuer gate
// with that of a policy of ten routes and two issuers, for the same token:
// run them in one go (-count 6 and benchstat, or bench/gate.sh's policy
// rows) and compare, since this machine's speed drifts between runs. The
// "-metrics" pair reports latencies, as the gate binary does.
func BenchmarkPolicyCached(b *testing.B) {
	single, policy, token := benchGates(b)
	singleM, policyM, _ := benchGatesObserved(b, discardLatencies{})
	proto, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:3000/protected", nil)
	if err != nil {
		b.Fatal(err)
	}
	auth := "Bearer " + token
	for _, h := range []struct {
		name string
		h    http.Handler
	}{
		{"single-issuer", single}, {"ten-routes-two-issuers", policy},
		{"single-issuer-metrics", singleM}, {"ten-routes-two-issuers-metrics", policyM},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s := serveCached(h.h, proto, auth); s != http.StatusOK {
					b.Fatal(s)
				}
			}
		})
	}
}

// TestPolicyCachedAllocations checks that the policy's cached path
// allocates no more than the single-issuer gate's: route matching and the
// requirements cost nothing on the heap.
func TestPolicyCachedAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocation counts vary")
	}
	single, policy, token := benchGates(t)
	proto, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:3000/protected", nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + token
	var allocs [2]float64
	for i, h := range []http.Handler{single, policy} {
		if s := serveCached(h, proto, auth); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
		allocs[i] = testing.AllocsPerRun(200, func() { serveCached(h, proto, auth) })
	}
	if allocs[1] > allocs[0] {
		t.Errorf("policy: %v allocations per cached request, single issuer: %v", allocs[1], allocs[0])
	}
}

// BenchmarkPolicyCachedPaired measures the two cached paths of
// BenchmarkPolicyCached in alternating blocks of requests, in a different
// order each round, so that a drift of the machine's speed falls on both
// alike. It reports the ratio policy/single of the fastest block of each
// ("ratio-best": the least disturbed by other work on the machine), of
// their medians ("ratio"), and the quartiles of the per-round ratios
// ("ratio-q1", "ratio-q3").
func BenchmarkPolicyCachedPaired(b *testing.B) {
	single, policy, token := benchGates(b)
	proto, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:3000/protected", nil)
	if err != nil {
		b.Fatal(err)
	}
	auth := "Bearer " + token
	const block = 500
	run := func(h http.Handler) float64 {
		start := time.Now()
		for range block {
			if s := serveCached(h, proto, auth); s != http.StatusOK {
				b.Fatal(s)
			}
		}
		return float64(time.Since(start))
	}
	var ss, ps, ratios []float64
	for i := 0; b.Loop(); i++ {
		var s, p float64
		if i%2 == 0 {
			s, p = run(single), run(policy)
		} else {
			p, s = run(policy), run(single)
		}
		ss, ps, ratios = append(ss, s), append(ps, p), append(ratios, p/s)
	}
	for _, x := range [][]float64{ss, ps, ratios} {
		slices.Sort(x)
	}
	n := len(ratios)
	b.ReportMetric(ps[0]/ss[0], "ratio-best")
	b.ReportMetric(ps[n/2]/ss[n/2], "ratio")
	b.ReportMetric(ratios[n/4], "ratio-q1")
	b.ReportMetric(ratios[3*n/4], "ratio-q3")
	b.ReportMetric(ss[0]/block, "single-best-ns")
	b.ReportMetric(0, "ns/op")
}
