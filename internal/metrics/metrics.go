// Package metrics builds keyward's Prometheus collectors on a registry
// passed in, and implements the observer interfaces of the verifier, the
// JWKS client and the issuer with them. Nothing is registered globally.
//
// Label values are bounded sets chosen by keyward (outcomes, reasons, grant
// types, algorithms, route patterns, key IDs and purposes); no label ever
// carries a token, a username or a secret.
//
// It implements the observer interfaces of verifier, jwks and issuer and
// must never import server, gate or a storage backend.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// Namespace prefixes every metric name.
const Namespace = "keyward"

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry's metrics in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP is the latency histogram of an HTTP surface, by route pattern and
// status class.
type HTTP struct {
	duration *prometheus.HistogramVec
	// observers holds the histogram of each route and status class seen,
	// so that a request does not hash its label values again.
	mu        sync.RWMutex
	observers map[routeClass]prometheus.Observer
}

type routeClass struct {
	route string
	class int // status / 100, 0 for a status outside 100-599
}

// NewHTTP registers keyward_http_request_duration_seconds{handler, route,
// code} on reg; handler names the surface ("issuer", "gate").
func NewHTTP(reg prometheus.Registerer, handler string) (*HTTP, error) {
	h := &HTTP{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:   Namespace,
		Name:        "http_request_duration_seconds",
		Help:        "Time to answer HTTP requests, by route pattern and status class (2xx, 4xx...).",
		ConstLabels: prometheus.Labels{"handler": handler},
		Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"}), observers: map[routeClass]prometheus.Observer{}}
	if err := reg.Register(h.duration); err != nil {
		return nil, err
	}
	return h, nil
}

// ObserveRequest records one request answered with status after d.
func (h *HTTP) ObserveRequest(route string, status int, d time.Duration) {
	k := routeClass{route: route}
	if status >= 100 && status <= 599 {
		k.class = status / 100
	}
	h.mu.RLock()
	o := h.observers[k]
	h.mu.RUnlock()
	if o == nil {
		// Routes are patterns and classes six: the map stays small.
		o = h.duration.WithLabelValues(route, statusClass(status))
		h.mu.Lock()
		h.observers[k] = o
		h.mu.Unlock()
	}
	o.Observe(d.Seconds())
}

// statusClass maps 204 to "2xx".
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// Verifier counts verifications and verified-token cache lookups; it
// implements verifier.Observer.
type Verifier struct {
	verifications *prometheus.CounterVec
	cache         *prometheus.CounterVec
	// The counters of every request that passes, resolved once.
	valid, hit, miss prometheus.Counter
}

// NewVerifier registers keyward_verifications_total{outcome, reason} and
// keyward_verify_cache_total{result} on reg.
func NewVerifier(reg prometheus.Registerer) (*Verifier, error) {
	v := &Verifier{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "verifications_total",
			Help: "Token verifications by outcome (valid, invalid) and reason of failure.",
		}, []string{"outcome", "reason"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "verify_cache_total",
			Help: "Lookups in the verified-token cache by result (hit, miss).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{v.verifications, v.cache} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	v.hit = v.cache.WithLabelValues("hit")
	v.miss = v.cache.WithLabelValues("miss")
	v.valid = v.verifications.WithLabelValues("valid", "")
	return v, nil
}

// Verified counts one verification.
func (v *Verifier) Verified(outcome, reason string) {
	if outcome == "valid" && reason == "" {
		v.valid.Inc()
		return
	}
	v.verifications.WithLabelValues(outcome, reason).Inc()
}

// CacheHit counts a token answered from the cache.
func (v *Verifier) CacheHit() { v.hit.Inc() }

// CacheMiss counts a token that had to be verified in full.
func (v *Verifier) CacheMiss() { v.miss.Inc() }

// Refusals counts the requests the gate refuses, by reason; it implements
// the gate's RefusalObserver.
type Refusals struct {
	refusals *prometheus.CounterVec
	// byReason holds the counter of each reason seen, so that a flood of
	// refusals does not hash its label value again for each one. Reasons
	// are a small fixed set, so the map stays small.
	byReason sync.Map // string -> prometheus.Counter
}

// refusalReasons are the reasons whose series exist from the start, at 0,
// so that alerts on their rate see them before the first refusal: the
// misconfigurations (issuer, audience, type) and the outage
// (key_source_unavailable) an operator looks for first. The others appear
// at their first refusal.
var refusalReasons = []string{"missing_token", "expired", "signature", "key_not_found", "issuer", "audience", "type", "key_source_unavailable"}

// NewRefusals registers keyward_gate_refusals_total{reason} on reg.
func NewRefusals(reg prometheus.Registerer) (*Refusals, error) {
	r := &Refusals{refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "gate_refusals_total",
		Help: "Requests the gate refused, by reason (missing_token, invalid_request, expired, signature, issuer, audience, key_not_found, key_source_unavailable...).",
	}, []string{"reason"})}
	if err := reg.Register(r.refusals); err != nil {
		return nil, err
	}
	for _, reason := range refusalReasons {
		r.counter(reason)
	}
	return r, nil
}

// Refused counts one refused request. reason must come from a fixed set
// (the gate's RefusalReason), never from the request.
func (r *Refusals) Refused(reason string) { r.counter(reason).Inc() }

func (r *Refusals) counter(reason string) prometheus.Counter {
	if c, ok := r.byReason.Load(reason); ok {
		return c.(prometheus.Counter)
	}
	c, _ := r.byReason.LoadOrStore(reason, r.refusals.WithLabelValues(reason))
	return c.(prometheus.Counter)
}

// JWKS counts the fetches of a remote key set by trigger and result and
// exposes the age of the last good set and whether a usable set is held;
// it implements jwks.Observer.
type JWKS struct {
	fetches *prometheus.CounterVec
}

// NewJWKS registers keyward_jwks_fetches_total{trigger, result},
// keyward_jwks_age_seconds and keyward_jwks_usable on reg; status reports
// the set's state (typically the Set's Status method), and now is the clock
// (nil means time.Now).
func NewJWKS(reg prometheus.Registerer, status func() jwks.Status, now func() time.Time) (*JWKS, error) {
	if now == nil {
		now = time.Now
	}
	j := &JWKS{fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "jwks_fetches_total",
		Help: "Fetches of the remote JWK Set by trigger (scheduled, unknown_kid, recovery, manual) and result (ok, not_modified, error).",
	}, []string{"trigger", "result"})}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "jwks_age_seconds",
		Help: "Seconds since the key set in hand was last fetched or revalidated; -1 before the first success.",
	}, func() float64 {
		t := status().Fetched
		if t.IsZero() {
			return -1
		}
		return now().Sub(t).Seconds()
	})
	usable := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "jwks_usable",
		Help: "1 while a usable key set is held, 0 while none is (never fetched, or older than its maximum staleness): protected requests then get 503.",
	}, func() float64 {
		if status().Usable {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{j.fetches, age, usable} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range []jwks.Trigger{jwks.TriggerScheduled, jwks.TriggerUnknownKID, jwks.TriggerRecovery} {
		for _, r := range []string{jwks.ResultOK, jwks.ResultNotModified, jwks.ResultError} {
			j.fetches.WithLabelValues(string(t), r)
		}
	}
	return j, nil
}

// Fetched counts one fetch by its trigger and result.
func (j *JWKS) Fetched(trigger jwks.Trigger, result string, _ error) {
	j.fetches.WithLabelValues(string(trigger), result).Inc()
}

// Changed records nothing: the age gauge reads the set's state itself.
func (j *JWKS) Changed(jwks.Status) {}

// Unusable records nothing: the usable gauge reads the set's state itself.
func (j *JWKS) Unusable(error) {}

// Recovered records nothing: the usable gauge reads the set's state itself.
func (j *JWKS) Recovered(time.Duration) {}

var _ jwks.Observer = (*JWKS)(nil)

// Revocations counts the fetches of a revocation feed and exposes the age
// of the list in force; it implements verifier.RevocationObserver.
type Revocations struct {
	fetches *prometheus.CounterVec
}

// NewRevocations registers keyward_revocation_fetches_total{result} and
// keyward_revocation_age_seconds on reg; status reports the list's state
// (typically the RevocationList's Status method), and now is the clock (nil
// means time.Now).
func NewRevocations(reg prometheus.Registerer, status func() verifier.RevocationStatus, now func() time.Time) (*Revocations, error) {
	if now == nil {
		now = time.Now
	}
	r := &Revocations{fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "revocation_fetches_total",
		Help: "Fetches of the issuer's revocation feed by result (ok, not_modified, error).",
	}, []string{"result"})}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "revocation_age_seconds",
		Help: "Seconds since the revocation feed was last fetched or revalidated; -1 before the first success. Revocations issued since are not known yet.",
	}, func() float64 {
		t := status().FetchedAt
		if t.IsZero() {
			return -1
		}
		return now().Sub(t).Seconds()
	})
	for _, c := range []prometheus.Collector{r.fetches, age} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, res := range []string{"ok", "not_modified", "error"} {
		r.fetches.WithLabelValues(res)
	}
	return r, nil
}

// Fetched counts one fetch.
func (r *Revocations) Fetched(result string, _ error) { r.fetches.WithLabelValues(result).Inc() }

// Loaded implements verifier.RevocationObserver; the age gauge reads the
// list itself.
func (r *Revocations) Loaded(verifier.RevocationStatus) {}

// Unavailable implements verifier.RevocationObserver; failures are counted
// by Fetched.
func (r *Revocations) Unavailable(error) {}

// Recovered implements verifier.RevocationObserver.
func (r *Revocations) Recovered(time.Duration, verifier.RevocationStatus) {}

var _ verifier.RevocationObserver = (*Revocations)(nil)

// Issuer counts the issuer's events; it implements issuer.Observer.
type Issuer struct {
	issued *prometheus.CounterVec
	logins *prometheus.CounterVec
	reuse  prometheus.Counter
}

// NewIssuer registers keyward_tokens_issued_total{grant, alg},
// keyward_logins_total{result} and keyward_refresh_reuse_total on reg.
func NewIssuer(reg prometheus.Registerer) (*Issuer, error) {
	i := &Issuer{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tokens_issued_total",
			Help: "Access tokens issued, by grant type and signing algorithm.",
		}, []string{"grant", "alg"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "logins_total",
			Help: "Password logins by result (success, invalid_credentials, throttled).",
		}, []string{"result"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refresh_reuse_total",
			Help: "Refresh tokens presented again after rotation; each revoked its whole family.",
		}),
	}
	for _, c := range []prometheus.Collector{i.issued, i.logins, i.reuse} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{"success", "invalid_credentials", "throttled"} {
		i.logins.WithLabelValues(r)
	}
	return i, nil
}

// TokenIssued counts one access token.
func (i *Issuer) TokenIssued(grant, alg string) { i.issued.WithLabelValues(grant, alg).Inc() }

// Login counts one password login.
func (i *Issuer) Login(result string) { i.logins.WithLabelValues(result).Inc() }

// RefreshReuse counts one detected refresh-token reuse.
func (i *Issuer) RefreshReuse() { i.reuse.Inc() }

// keyCollector reports the signing keys' states at scrape time.
type keyCollector struct {
	list    func(ctx context.Context) ([]keyward.SigningKey, error)
	now     func() time.Time
	timeout time.Duration
	state   *prometheus.Desc
	next    *prometheus.Desc
	errs    *prometheus.Desc
}

// RegisterKeys registers keyward_signing_key_state{kid, alg, purpose,
// state} (1 for each key) and
// keyward_signing_key_next_transition_seconds{kid, purpose, state} (seconds
// until the key is activated, retired or removed from the JWKS), read from
// list at each scrape. list runs on every scrape, of an endpoint anyone who
// reaches it may call, so it should answer from memory (serve passes the
// key manager's Keys) rather than query the store. purpose is
// "primary" or "id_token" ([keyward.KeyPurpose]), so that alerts can look
// at each purpose's keys apart: each has its own active key and its own
// successors.
func RegisterKeys(reg prometheus.Registerer, list func(ctx context.Context) ([]keyward.SigningKey, error), now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return reg.Register(&keyCollector{
		list: list, now: now, timeout: 2 * time.Second,
		state: prometheus.NewDesc(Namespace+"_signing_key_state",
			"The signing keys, one series per key with its purpose (primary, id_token) and state (pending, active, retired) as labels; the value is 1.",
			[]string{"kid", "alg", "purpose", "state"}, nil),
		next: prometheus.NewDesc(Namespace+"_signing_key_next_transition_seconds",
			"Seconds until the key's next scheduled transition: activation (pending), retirement (active) or removal from the JWKS (retired). Negative when overdue; absent when none is scheduled.",
			[]string{"kid", "purpose", "state"}, nil),
		errs: prometheus.NewDesc(Namespace+"_signing_keys_list_error",
			"1 when the keys could not be read at this scrape (for the issuer: its last read of the keys from the store failed), else 0.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.next
	ch <- c.errs
}

// Collect implements prometheus.Collector.
func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	keys, err := c.list(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, 0)
	now := c.now()
	for _, k := range keys {
		purpose := purposeLabel(k.Purpose)
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, 1, k.ID, k.Algorithm, purpose, string(k.State))
		var at time.Time
		switch k.State {
		case keyward.KeyPending:
			at = k.ActivateAt
		case keyward.KeyActive:
			at = k.RetireAt
		case keyward.KeyRetired:
			at = k.RemoveAt
		}
		if !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.next, prometheus.GaugeValue, at.Sub(now).Seconds(), k.ID, purpose, string(k.State))
		}
	}
}

// purposeLabel is the purpose label of a key: "primary" for
// [keyward.KeyPurposePrimary] (whose value is empty), "id_token" for
// [keyward.KeyPurposeIDToken], and "other" for a value the store should
// never hold, so that the label keeps to a fixed set.
func purposeLabel(p keyward.KeyPurpose) string {
	switch p {
	case keyward.KeyPurposePrimary:
		return "primary"
	case keyward.KeyPurposeIDToken:
		return string(keyward.KeyPurposeIDToken)
	}
	return "other"
}
