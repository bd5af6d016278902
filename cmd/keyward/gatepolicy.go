package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/gate"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// gatePolicy is the gate's --policy: the file, the key sources and
// revocation lists of its issuers, and the Policies the handler reads. A
// reload builds a new policy and swaps it in whole; the remote key sets
// and revocation lists of issuers whose name and URLs stay the same are
// kept, with their caches and background loops.
type gatePolicy struct {
	path      string
	o         *gateOptions
	logger    *slog.Logger
	reg       prometheus.Registerer
	verifiers *metrics.Verifier
	policies  *gate.Policies

	// debounce is how long the file's directory stays quiet after a
	// change before a watched file is read again (defaultPolicyDebounce).
	debounce time.Duration

	mu      sync.Mutex
	sources map[string]*issuerSource // in force, by sourceKey
	// read is the hash of the content of the policy in force: a change
	// seen by the watch that leaves it so reloads nothing. A content that
	// failed to load is not recorded, so that it is tried again at the
	// next change (a key file it names written after it).
	read [sha256.Size]byte
}

// issuerSource is the remote part of one issuer: its key set (nil for key
// files) and revocation list (nil without a feed), their metrics, and
// their loops once started.
type issuerSource struct {
	name    string
	set     *jwks.Set
	revoked *verifier.RevocationList
	metrics *trackingRegisterer
	// register registers the source's metrics, once the source takes
	// effect: a reload that replaces an issuer's source unregisters the
	// old one's first, as they share their names and labels.
	register func() error
	cancel   context.CancelFunc // nil until started
	done     chan struct{}
}

// sourceKey identifies an issuer's remote sources across reloads.
func sourceKey(is gate.IssuerSpec) string {
	return strings.Join([]string{is.Name, is.Issuer, is.JWKSURL, strings.Join(is.KeyFiles, ","), is.Revocations}, "\x00")
}

// checkPolicyFlags refuses the single-issuer flags beside --policy, whose
// issuers section replaces them.
func checkPolicyFlags(o *gateOptions) error {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--issuer", o.issuer != ""}, {"--jwks-url", o.jwksURL != ""}, {"--audience", len(o.audiences) > 0},
		{"--algs", o.algs != defaultGateAlgs}, {"--public", len(o.public) > 0}, {"--token-type", o.tokenType != ""},
		{"--leeway", o.leeway != verifier.DefaultLeeway}, {"--revocations", o.revocations != ""},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	if len(set) > 0 {
		return cli.Usagef("--policy replaces %s: give issuers, audiences, algorithms, leeway, token types, revocation feeds and public routes in the policy file", strings.Join(set, ", "))
	}
	return nil
}

// newGatePolicy loads the policy file for the first time; its errors are
// usage errors.
func newGatePolicy(o *gateOptions, logger *slog.Logger, reg prometheus.Registerer) (*gatePolicy, error) {
	if err := checkPolicyFlags(o); err != nil {
		return nil, err
	}
	if o.revocationsEvery <= 0 {
		return nil, cli.Usagef("--revocations-every must be positive")
	}
	if o.revocationsMaxStale <= 0 {
		return nil, cli.Usagef("--revocations-max-stale must be positive")
	}
	vm, err := metrics.NewVerifier(reg)
	if err != nil {
		return nil, err
	}
	gp := &gatePolicy{path: o.policy, o: o, logger: logger, reg: reg, verifiers: vm, sources: map[string]*issuerSource{},
		debounce: defaultPolicyDebounce}
	data, err := readPolicyFile(gp.path)
	if err != nil {
		return nil, cli.Usagef("--policy: %v", err)
	}
	gp.read = policyHash(data)
	p, sources, err := gp.load(data)
	if err != nil {
		return nil, cli.Usagef("--policy: %v", err)
	}
	gp.sources = sources
	for _, s := range sources {
		if err := s.registerMetrics(); err != nil {
			return nil, err
		}
	}
	gp.policies = gate.NewPolicies(p)
	all, public := p.Routes()
	logger.Info("policy_loaded", slog.String("file", gp.path), slog.String("issuers", strings.Join(p.Issuers(), ",")),
		slog.Int("routes", all), slog.Int("public_routes", public), slog.String("default", p.Default()),
		slog.String("unmatched", unmatchedInfo(p)), slog.String("encoded_slashes", p.EncodedSlashes()))
	return gp, nil
}

// unmatchedInfo says what happens to a request no route matches.
func unmatchedInfo(p *gate.Policy) string {
	if p.Default() == gate.DefaultDeny {
		return "refused with 404"
	}
	return "allowed with a valid token of any issuer"
}

// load builds a policy of data, the file's content, with the sources in
// force where an issuer's stay the same and new, unstarted ones for the
// others. It changes nothing: on error, the new sources are dropped.
func (gp *gatePolicy) load(data []byte) (p *gate.Policy, sources map[string]*issuerSource, err error) {
	spec, err := gate.ParsePolicy(gp.path, data)
	if err != nil {
		return nil, nil, err
	}
	gp.mu.Lock()
	old := gp.sources
	gp.mu.Unlock()
	sources = map[string]*issuerSource{}
	cacheSize := gp.o.cacheSize
	if cacheSize == 0 {
		cacheSize = -1 // off
	}
	var issuers []verifier.Issuer
	for _, is := range spec.Issuers {
		src, err := gp.source(is, old, sources)
		if err != nil {
			return nil, nil, err
		}
		keys, err := gp.keys(is, src)
		if err != nil {
			return nil, nil, &gate.PolicyError{File: gp.path, Line: is.Line, Msg: fmt.Sprintf("issuer %s: %v", is.Name, err)}
		}
		algs := is.Algorithms
		if algs == "" {
			algs = defaultGateAlgs
		}
		set, err := jose.ParseAlgorithmSet(algs)
		if err != nil {
			return nil, nil, &gate.PolicyError{File: gp.path, Line: is.Line, Msg: fmt.Sprintf("issuer %s: algs %q: %v", is.Name, algs, err)}
		}
		leeway := verifier.DefaultLeeway
		if is.LeewaySet {
			leeway = is.Leeway
		}
		issuers = append(issuers, verifier.Issuer{Name: is.Name, Config: verifier.Config{
			Keys: keys, Issuers: []string{is.Issuer}, Audiences: is.Audiences, Algorithms: set.Algorithms(),
			Leeway: leeway, NoLeeway: leeway == 0, StrictType: is.TokenType != "", Revocations: src.revoked,
		}})
	}
	v, err := verifier.NewMulti(verifier.MultiConfig{Issuers: issuers, CacheSize: cacheSize, Observer: gp.verifiers})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", gp.path, err)
	}
	p, err = gate.CompilePolicy(spec, v)
	if err != nil {
		return nil, nil, err
	}
	return p, sources, nil
}

// readPolicyFile reads at most gate.MaxPolicySize bytes and one more, so
// that ParsePolicy refuses a larger file.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, gate.MaxPolicySize+1))
}

// source returns the remote sources of is: those in force when they stay
// the same, else new ones, unstarted. It records them in sources.
func (gp *gatePolicy) source(is gate.IssuerSpec, old, sources map[string]*issuerSource) (*issuerSource, error) {
	key := sourceKey(is)
	if s, ok := old[key]; ok {
		sources[key] = s
		return s, nil
	}
	lineErr := func(format string, args ...any) error {
		return &gate.PolicyError{File: gp.path, Line: is.Line, Msg: fmt.Sprintf("issuer %s: ", is.Name) + fmt.Sprintf(format, args...)}
	}
	for _, u := range []struct{ what, url string }{{"issuer", is.Issuer}, {"jwks-url", is.JWKSURL}, {"revocations", is.Revocations}} {
		if u.url == "" || (u.what == "issuer" && len(is.KeyFiles) > 0) {
			continue
		}
		if err := checkHTTPURL(u.what, u.url); err != nil {
			return nil, lineErr("%v", err)
		}
	}
	s := &issuerSource{name: is.Name, metrics: &trackingRegisterer{inner: prometheus.WrapRegistererWith(prometheus.Labels{"issuer": is.Name}, gp.reg)}}
	sources[key] = s
	if len(is.KeyFiles) == 0 {
		keyLog := &keyEvents{logger: gp.logger.With(slog.String("issuer", is.Name))}
		set, err := jwks.New(jwks.Config{URL: is.JWKSURL, Issuer: is.Issuer, Client: jwks.NewClient(), Observer: keyLog})
		if err != nil {
			return nil, lineErr("%v", err)
		}
		keyLog.status = set.Status
		s.set = set
		s.register = func() (err error) {
			keyLog.metrics, err = metrics.NewJWKS(s.metrics, set.Status, nil)
			return err
		}
	}
	if is.Revocations != "" {
		events := &revocationEvents{url: is.Revocations, logger: gp.logger.With(slog.String("issuer", is.Name))}
		revoked, err := verifier.NewRevocationList(verifier.RevocationConfig{
			URL: is.Revocations, Client: revocationClient(), Every: gp.o.revocationsEvery, Observer: events,
			MaxStale: gp.o.revocationsMaxStale, InsecureServeStale: gp.o.insecureServeStale,
		})
		if err != nil {
			return nil, lineErr("%v", err)
		}
		s.revoked = revoked
		prev := s.register
		s.register = func() (err error) {
			if prev != nil {
				if err := prev(); err != nil {
					return err
				}
			}
			events.metrics, err = metrics.NewRevocations(s.metrics, revoked.Status, nil)
			return err
		}
	}
	return s, nil
}

// keys returns the key source of is: its key files, read again at each
// load, or its remote set.
func (gp *gatePolicy) keys(is gate.IssuerSpec, src *issuerSource) (verifier.KeySet, error) {
	if len(is.KeyFiles) == 0 {
		return src.set, nil
	}
	paths := make([]string, len(is.KeyFiles))
	for i, f := range is.KeyFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(gp.path), f)
		}
		paths[i] = f
	}
	set, err := verifier.LoadKeys(paths...)
	if err != nil {
		return nil, err
	}
	return verifier.StaticKeys(set), nil
}

// ready reports whether every issuer's key set and revocation list in
// force is usable.
func (gp *gatePolicy) ready() error {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	for _, s := range gp.sources {
		if s.set != nil {
			if err := s.set.Ready(); err != nil {
				return fmt.Errorf("issuer %s: %w", s.name, err)
			}
		}
		if s.revoked != nil {
			if err := s.revoked.Ready(); err != nil {
				return fmt.Errorf("issuer %s: %w", s.name, err)
			}
		}
	}
	return nil
}

// reload reads the file again and, when it is good, swaps the new policy
// in, starts the new sources and stops those no issuer uses any more; a
// bad file changes nothing. Unless force is set (SIGHUP, which also picks
// up changed key files), a file whose content is that of the policy in
// force is not loaded again, and policy_unchanged is logged
// at debug level. It logs policy_reloaded or policy_reload_failed, and
// returns the error.
func (gp *gatePolicy) reload(ctx context.Context, force bool) error {
	data, err := readPolicyFile(gp.path)
	var sum [sha256.Size]byte
	if err == nil {
		sum = policyHash(data)
		gp.mu.Lock()
		same := sum == gp.read
		gp.mu.Unlock()
		if same && !force {
			gp.logger.Debug("policy_unchanged", slog.String("file", gp.path))
			return nil
		}
	}
	var p *gate.Policy
	var sources map[string]*issuerSource
	if err == nil {
		p, sources, err = gp.load(data)
	}
	if err != nil {
		attrs := []any{slog.String("file", gp.path), slog.String("error", err.Error()), slog.Bool("serving_previous_policy", true)}
		var pe *gate.PolicyError
		if errors.As(err, &pe) {
			attrs = append(attrs, slog.Int("line", pe.Line))
		}
		gp.logger.Error("policy_reload_failed", attrs...)
		return err
	}
	gp.mu.Lock()
	old := gp.sources
	for k, s := range old {
		if sources[k] != s {
			s.stop() // its set still answers the old policy's lookups
			s.metrics.unregisterAll()
		}
	}
	kept := 0
	for k, s := range sources {
		if old[k] == s {
			kept++
			continue
		}
		if err := s.registerMetrics(); err != nil {
			gp.logger.Warn("policy_metrics_failed", slog.String("issuer", s.name), slog.String("error", err.Error()))
		}
		s.start(ctx)
	}
	gp.sources = sources
	gp.read = sum
	gp.mu.Unlock()
	gp.policies.Store(p)
	all, public := p.Routes()
	gp.logger.Info("policy_reloaded", slog.String("file", gp.path), slog.String("issuers", strings.Join(p.Issuers(), ",")),
		slog.Int("routes", all), slog.Int("public_routes", public), slog.String("default", p.Default()),
		slog.String("encoded_slashes", p.EncodedSlashes()), slog.Int("key_sources_kept", kept))
	return nil
}

// registerMetrics registers the source's metrics.
func (s *issuerSource) registerMetrics() error {
	if s.register == nil {
		return nil
	}
	return s.register()
}

// start runs the source's loops until stop.
func (s *issuerSource) start(ctx context.Context) {
	if s.cancel != nil || (s.set == nil && s.revoked == nil) {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	var wg sync.WaitGroup
	if s.set != nil {
		wg.Go(func() { s.set.Run(ctx) })
	}
	if s.revoked != nil {
		wg.Go(func() { s.revoked.Run(ctx) })
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
}

// stop ends the source's loops and waits for them.
func (s *issuerSource) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// trackingRegisterer registers collectors on inner and remembers them, so
// that the metrics of an issuer a reload removes can be unregistered.
type trackingRegisterer struct {
	inner prometheus.Registerer
	mu    sync.Mutex
	cs    []prometheus.Collector
}

var _ prometheus.Registerer = (*trackingRegisterer)(nil)

// Register implements prometheus.Registerer.
func (t *trackingRegisterer) Register(c prometheus.Collector) error {
	if err := t.inner.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.cs = append(t.cs, c)
	t.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (t *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (t *trackingRegisterer) Unregister(c prometheus.Collector) bool {
	return t.inner.Unregister(c)
}

func (t *trackingRegisterer) unregisterAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cs {
		t.inner.Unregister(c)
	}
	t.cs = nil
}

// setupPolicyGate builds the gate of --policy.
func setupPolicyGate(o *gateOptions, logger *slog.Logger) (*gateSetup, error) {
	var upstream *url.URL
	if o.upstream != "" {
		if err := checkHTTPURL("--upstream", o.upstream); err != nil {
			return nil, err
		}
		upstream, _ = url.Parse(o.upstream)
	}
	if o.cacheSize < 0 {
		return nil, cli.Usagef("--cache-size must not be negative (0 turns the cache off)")
	}
	dpopConfig, err := o.dpop.config()
	if err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry()
	gp, err := newGatePolicy(o, logger, reg)
	if err != nil {
		return nil, err
	}
	httpMetrics, err := metrics.NewHTTP(reg, "gate")
	if err != nil {
		return nil, err
	}
	refusals, err := metrics.NewRefusals(reg)
	if err != nil {
		return nil, err
	}
	decisions, err := newPolicyMetrics(reg)
	if err != nil {
		return nil, err
	}
	h, err := gate.New(gate.Config{
		Policies:      gp.policies,
		PolicyMetrics: decisions,
		Upstream:      upstream,
		Logger:        logger,
		Ready:         gp.ready,
		Metrics:       metrics.Handler(reg),
		HTTPMetrics:   httpMetrics,
		Refusals:      refusals,
		DPoP:          dpopConfig,
	})
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return &gateSetup{policy: gp, handler: h}, nil
}

// policyMetrics counts the requests each route of the policy decides, by
// issuer and outcome: keyward_gate_policy_requests_total{route, issuer,
// outcome}. Route and issuer are names from the policy file, never from a
// request.
type policyMetrics struct{ vec *prometheus.CounterVec }

var _ gate.PolicyObserver = (*policyMetrics)(nil)

func newPolicyMetrics(reg prometheus.Registerer) (*policyMetrics, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "gate_policy_requests_total",
		Help: "Requests decided by the gate's policy, by route name (unmatched for none), issuer name (empty when no token was verified) and outcome (allowed, refused).",
	}, []string{"route", "issuer", "outcome"})
	if err := reg.Register(vec); err != nil {
		return nil, err
	}
	return &policyMetrics{vec: vec}, nil
}

// Counter implements gate.PolicyObserver.
func (m *policyMetrics) Counter(route, issuer, outcome string) gate.Counter {
	return m.vec.WithLabelValues(route, issuer, outcome)
}
