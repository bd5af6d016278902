//go:build unix

package gate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// upstreamBody is what the benchmarks' upstream answers: a small JSON
// object, like an API's.
const upstreamBody = `{"id":7,"status":"shipped"}` + "\n"

// inprocTransport is an upstream answered in process, without a
// connection: with it, the proxies' own work stands out.
type inprocTransport struct{}

func (inprocTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(upstreamBody)),
		ContentLength: int64(len(upstreamBody)),
		Request:       r,
	}, nil
}

// proxyBench is a plain httputil.ReverseProxy and the gate in proxy mode,
// as `keyward gate --upstream` wires it (metrics included), in front of
// the same upstream.
type proxyBench struct {
	plain, pooled, gate http.Handler
	token               string
}

func newProxyBench(b *testing.B, loopback bool, cacheSize int) *proxyBench {
	b.Helper()
	key := loadKey(&testing.T{}, "rsa-a.pem")
	var transport http.RoundTripper = inprocTransport{}
	upURL, _ := url.Parse("http://upstream.test")
	if loopback {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{"application/json"}
			io.WriteString(w, upstreamBody)
		}))
		b.Cleanup(up.Close)
		upURL, _ = url.Parse(up.URL)
		transport = defaultTransport()
	}
	reg := prometheus.NewRegistry()
	vm, err := metrics.NewVerifier(reg)
	if err != nil {
		b.Fatal(err)
	}
	hm, err := metrics.NewHTTP(reg, "gate")
	if err != nil {
		b.Fatal(err)
	}
	rm, err := metrics.NewRefusals(reg)
	if err != nil {
		b.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256},
		CacheSize:  cacheSize,
		Observer:   vm,
	})
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(Config{Verifier: v, Upstream: upURL, Transport: transport, HTTPMetrics: hm, Refusals: rm, Metrics: metrics.Handler(reg)})
	if err != nil {
		b.Fatal(err)
	}
	rewrite := func(pr *httputil.ProxyRequest) {
		pr.SetURL(upURL)
		pr.SetXForwarded()
	}
	plain := &httputil.ReverseProxy{Rewrite: rewrite, Transport: transport}
	pooled := &httputil.ReverseProxy{Rewrite: rewrite, Transport: transport, BufferPool: newBufferPool()}
	return &proxyBench{plain: plain, pooled: pooled, gate: g, token: key.token(&testing.T{}, nil)}
}

// serve sends one GET /orders/7 with the token to h, built afresh as
// net/http builds a request, and checks the answer.
func (p *proxyBench) serve(b *testing.B, h http.Handler) {
	r := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: "/orders/7"},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Authorization": {"Bearer " + p.token},
			"Accept":        {"application/json"},
			"User-Agent":    {"bench"},
		},
		Host:       "127.0.0.1:3000",
		RemoteAddr: "127.0.0.1:50000",
		RequestURI: "/orders/7",
	}
	r = r.WithContext(context.Background())
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkProxy measures a plain httputil.ReverseProxy with no
// authentication ("plain", as its documentation shows it, and "pooled",
// with the gate's pool of copy buffers) and the gate in proxy mode in front
// of the same upstream, through a loopback connection to a real upstream
// and with an upstream answered in process (where the proxies' own work
// stands out); the gate with its verified-token cache (one repeated token)
// and without it.
func BenchmarkProxy(b *testing.B) {
	for _, upstream := range []string{"loopback", "inproc"} {
		for _, mode := range []struct {
			name      string
			cacheSize int
		}{{"plain", 0}, {"pooled", 0}, {"gate-cached", 0}, {"gate-uncached", -1}} {
			b.Run(upstream+"/"+mode.name, func(b *testing.B) {
				p := newProxyBench(b, upstream == "loopback", mode.cacheSize)
				h := map[string]http.Handler{"plain": p.plain, "pooled": p.pooled}[mode.name]
				if h == nil {
					h = p.gate
				}
				b.ReportAllocs()
				for b.Loop() {
					p.serve(b, h)
				}
			})
		}
	}
}

// BenchmarkProxyRatio runs the plain proxies and the gate in turn, 16
// requests each in every iteration, and charges each the CPU time of the
// whole process (user and system, garbage collection and the loopback
// upstream included) over its requests, so that other work on the machine
// hardly moves the figures. It reports the gate's throughput per core as a
// share of each plain proxy's: "plain/gate" is the plain proxy's CPU per
// request over the gate's (0.9 means the gate serves 90 % of the requests
// the plain proxy would with the same CPU), "pooled/gate" the same against
// the plain proxy with the gate's pool of copy buffers, which isolates the
// cost of authentication.
func BenchmarkProxyRatio(b *testing.B) {
	const batch = 16
	for _, upstream := range []string{"loopback", "inproc"} {
		for _, mode := range []struct {
			name      string
			cacheSize int
		}{{"cached", 0}, {"uncached", -1}} {
			b.Run(upstream+"/"+mode.name, func(b *testing.B) {
				p := newProxyBench(b, upstream == "loopback", mode.cacheSize)
				hs := [3]http.Handler{p.plain, p.pooled, p.gate}
				// Warm them all: connections, pools and the cache.
				for range 100 {
					for _, h := range hs {
						p.serve(b, h)
					}
				}
				var d [3]time.Duration
				i := 0
				for b.Loop() {
					// Rotate which goes first, so that none always finds
					// the caches and the heap as another left them.
					for k := range 3 {
						j := (i + k) % 3
						t0 := processCPU(b)
						for range batch {
							p.serve(b, hs[j])
						}
						d[j] += processCPU(b) - t0
					}
					i++
				}
				n := float64(i * batch)
				b.ReportMetric(float64(d[0])/float64(d[2]), "plain/gate")
				b.ReportMetric(float64(d[1])/float64(d[2]), "pooled/gate")
				b.ReportMetric(float64(d[0])/n, "plain-cpu-ns/req")
				b.ReportMetric(float64(d[1])/n, "pooled-cpu-ns/req")
				b.ReportMetric(float64(d[2])/n, "gate-cpu-ns/req")
			})
		}
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
