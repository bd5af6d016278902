package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/gate"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// defaultGateAlgs is the gate's algorithm allowlist when --algs is not given.
const defaultGateAlgs = "RS256,ES256,EdDSA"

// gateOptions are the flags of keyward gate.
type gateOptions struct {
	listen    string
	jwksURL   string
	issuer    string
	audiences []string
	algs      string
	upstream  string
	public    []string
	leeway    time.Duration
	cacheSize int
	tokenType string
	policy    string

	policyWatch bool

	revocations         string
	revocationsEvery    time.Duration
	revocationsMaxStale time.Duration
	insecureServeStale  bool

	dpop dpopFlags

	// onListen, when set, is told the address the gate listens on (tests
	// listen on port 0).
	onListen func(addr string)

	log logFlags
}

func newGateCmd(a *app) *cobra.Command {
	var o gateOptions
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Run a verifying reverse proxy (or, without --upstream, the demo API)",
		Long: `Run a reverse proxy that lets through only requests with a valid bearer token.

Tokens are verified with the keys of --jwks-url, or of the jwks_uri that the
metadata of --issuer names when --jwks-url is not given; their iss must equal
--issuer and their aud name one of the --audience values. Both are required.

With --upstream, verified requests are forwarded with X-Auth-Subject,
X-Auth-Scope and X-Auth-Claims (base64url of the verified claims JSON); any
X-Auth-* header the client sent is removed first. Without --upstream the gate
serves a demo API: GET / (public) and GET /protected (returns the claims).
With --token-type at+jwt only RFC 9068 access tokens (header typ: at+jwt)
pass: use it in front of keyward serve, or any issuer that types its access
tokens, so that an ID token issued to a client whose ID is one of the
--audience values is not taken for an access token.

With --dpop allowed or required, tokens bound to a client's key (RFC 9449,
cnf.jkt) pass as "Authorization: DPoP <token>" with a DPoP proof by that key
for the request; a bound token sent as Bearer is refused in every mode. Set
--public-origin to the URL clients use (e.g. https://api.example.com) when
the gate is behind a TLS terminator or load balancer: proofs name it. Each
gate keeps its own replay cache; see docs/dpop.md.

/.keyward/healthz is the gate's own health endpoint, /.keyward/metrics its
Prometheus metrics; neither needs a token.

Refused requests are logged at info level with their reason (a wrong
--issuer or --audience shows there): one requests_refused line per reason at
most every 10s, with the count of refusals it stands for; each one is
counted in keyward_gate_refusals_total{reason}.

The gate starts even when the key set cannot be fetched yet: protected
requests and the health endpoint then get 503 with Retry-After until keys
arrive; it tries again every second meanwhile.

With --policy FILE the gate trusts several issuers, each with its own key
source, audiences, algorithms, leeway, token type and revocation feed, and
decides each request by the first route of the file that matches its method
and cleaned path: public, or requiring issuers, scopes, roles or claim
values (403 insufficient_scope with the scope attribute when a valid token
lacks them). A request no route matches gets 404 unless the file says
default: allow-authenticated. A token is verified only by the issuer its iss
names; an unknown iss is refused before any key is fetched. SIGHUP reloads
the file, and so does a change to it (--policy-watch, on by default: its
directory is watched, so a save by rename and a Kubernetes ConfigMap
update are seen); a bad file keeps the policy in force
(policy_reload_failed). The file replaces --issuer, --jwks-url, --audience,
--algs, --leeway, --token-type, --public and --revocations; its format is in
docs/configuration.md.`,
		Example: `  keyward gate --jwks-url http://localhost:4000/jwks.json --issuer http://localhost:4000 --audience api --token-type at+jwt
  keyward gate --issuer https://auth.example.com --audience orders --upstream http://127.0.0.1:8080 --public /healthz --public '/static/*'
  keyward gate --policy policy.yaml --upstream http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := o.log.logger(a.stderr)
			if err != nil {
				return err
			}
			return runGate(cmd.Context(), logger, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:3000", "address to listen on")
	f.StringVar(&o.jwksURL, "jwks-url", "", "URL of the JWK Set to verify with (default: discovered from --issuer)")
	f.StringVar(&o.issuer, "issuer", "", "accepted iss; with no --jwks-url, the issuer whose metadata names the JWK Set (required)")
	f.StringArrayVar(&o.audiences, "audience", nil, "accepted audience; repeatable (at least one required)")
	f.StringVar(&o.algs, "algs", defaultGateAlgs, "comma-separated algorithm allowlist")
	f.StringVar(&o.upstream, "upstream", "", "URL to forward verified requests to (default: serve the demo API)")
	f.StringArrayVar(&o.public, "public", nil, "path that needs no token; repeatable; a trailing * makes it a prefix; with it, a path holding an encoded / (%2F) or a \\ is refused with 400")
	f.DurationVar(&o.leeway, "leeway", verifier.DefaultLeeway, "clock skew allowed on exp, nbf and iat (0s for none)")
	f.IntVar(&o.cacheSize, "cache-size", verifier.DefaultCacheSize, "verified tokens to cache (0 turns the cache off)")
	f.StringVar(&o.tokenType, "token-type", "", `accepted "typ" header: at+jwt accepts only RFC 9068 access tokens, refusing the issuer's ID tokens (default: at+jwt and JWT)`)
	f.StringVar(&o.revocations, "revocations", "", "URL of the issuer's revocation feed (e.g. http://localhost:4000/revocations); revoked tokens are refused")
	f.DurationVar(&o.revocationsEvery, "revocations-every", verifier.DefaultRevocationEvery, "how often to poll --revocations when the issuer does not hold requests (no long-poll) or a fetch failed")
	f.DurationVar(&o.revocationsMaxStale, "revocations-max-stale", verifier.DefaultRevocationMaxStale, "how old the revocation list may grow without a good fetch of --revocations before the gate reports not ready and answers every token 503")
	f.BoolVar(&o.insecureServeStale, "insecure-revocations-serve-stale", false, "past --revocations-max-stale keep accepting tokens by the stale list (revocations made meanwhile are missed) instead of answering 503; health still reports not ready")
	f.StringVar(&o.policy, "policy", "", "YAML file of issuers and route policies (docs/configuration.md); replaces --issuer, --jwks-url, --audience, --algs, --leeway, --token-type, --public and --revocations; SIGHUP reloads it, as does a change to it (--policy-watch)")
	f.BoolVar(&o.policyWatch, "policy-watch", true, "reload --policy when the file changes (its directory is watched; 250ms of quiet first, 2s after the first change at most; unchanged content is not reloaded); false reloads on SIGHUP only")
	f.String(cli.ConfigFlag, "", "YAML file of flag values (keys are the flag names); flags and KEYWARD_* variables override it")
	o.log.register(cmd)
	o.dpop.register(cmd)
	return cmd
}

// gateSetup is what runGate builds from the flags before listening.
type gateSetup struct {
	keys    *jwks.Set   // nil with --policy
	policy  *gatePolicy // nil without --policy
	handler http.Handler
	algs    jose.AlgorithmSet
	revoked *verifier.RevocationList // nil without --revocations
}

// gateWiring is what gateHandler builds the handler from besides the flags.
type gateWiring struct {
	keys     verifier.KeySet
	ready    func() error
	algs     jose.AlgorithmSet
	upstream *url.URL                 // nil for the demo API
	revoked  *verifier.RevocationList // nil without --revocations
	reg      *prometheus.Registry
	logger   *slog.Logger
}

// gateHandler builds the verifier and the gate's handler, with their
// metrics on w.reg.
func gateHandler(o *gateOptions, w gateWiring) (http.Handler, error) {
	verifierMetrics, err := metrics.NewVerifier(w.reg)
	if err != nil {
		return nil, err
	}
	httpMetrics, err := metrics.NewHTTP(w.reg, "gate")
	if err != nil {
		return nil, err
	}
	refusals, err := metrics.NewRefusals(w.reg)
	if err != nil {
		return nil, err
	}
	cacheSize := o.cacheSize
	if cacheSize == 0 {
		cacheSize = -1 // off
	}
	v, err := verifier.New(verifier.Config{
		Keys:       w.keys,
		Issuers:    []string{o.issuer},
		Audiences:  o.audiences,
		Algorithms: w.algs.Algorithms(),
		Leeway:     o.leeway,
		NoLeeway:   o.leeway == 0,
		CacheSize:  cacheSize,
		StrictType: o.tokenType != "",

		Revocations: w.revoked,
		Observer:    verifierMetrics,
	})
	if err != nil {
		return nil, err
	}
	dpopConfig, err := o.dpop.config()
	if err != nil {
		return nil, err
	}
	h, err := gate.New(gate.Config{
		Verifier:    v,
		Upstream:    w.upstream,
		PublicPaths: o.public,
		Logger:      w.logger,
		Ready:       w.ready,
		Metrics:     metrics.Handler(w.reg),
		HTTPMetrics: httpMetrics,
		Refusals:    refusals,
		DPoP:        dpopConfig,
	})
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return h, nil
}

// setupGate validates the flags and builds the key set and the handler.
// Errors about the flags are usage errors.
func setupGate(o *gateOptions, logger *slog.Logger) (*gateSetup, error) {
	if o.policy != "" {
		return setupPolicyGate(o, logger)
	}
	var missing []string
	if o.issuer == "" {
		missing = append(missing, "--issuer")
	}
	if len(o.audiences) == 0 {
		missing = append(missing, "--audience")
	}
	if len(missing) > 0 {
		return nil, cli.Usagef("keyward gate refuses to start without %s: name the issuer whose tokens it accepts (--issuer URL) and the audience this service is (--audience AUD)", strings.Join(missing, " and "))
	}
	for _, aud := range o.audiences {
		if aud == "" {
			return nil, cli.Usagef("--audience must not be empty")
		}
	}
	if err := checkHTTPURL("--issuer", o.issuer); err != nil {
		return nil, err
	}
	if o.jwksURL != "" {
		if err := checkHTTPURL("--jwks-url", o.jwksURL); err != nil {
			return nil, err
		}
	}
	algs, err := jose.ParseAlgorithmSet(o.algs)
	if err != nil {
		return nil, cli.Usagef("--algs %q: %v", o.algs, err)
	}
	var upstream *url.URL
	if o.upstream != "" {
		if err := checkHTTPURL("--upstream", o.upstream); err != nil {
			return nil, err
		}
		upstream, _ = url.Parse(o.upstream)
	}
	if o.leeway < 0 {
		return nil, cli.Usagef("--leeway must not be negative")
	}
	if o.cacheSize < 0 {
		return nil, cli.Usagef("--cache-size must not be negative (0 turns the cache off)")
	}
	if o.tokenType != "" && !strings.EqualFold(o.tokenType, verifier.TypeAccessToken) {
		return nil, cli.Usagef("--token-type %q: want %s (RFC 9068 access tokens only), or leave it out to accept at+jwt and JWT", o.tokenType, verifier.TypeAccessToken)
	}

	reg := metrics.NewRegistry()
	keyLog := &keyEvents{logger: logger}
	keys, err := jwks.New(jwks.Config{URL: o.jwksURL, Issuer: o.issuer, Client: jwks.NewClient(), Observer: keyLog})
	if err != nil {
		return nil, err
	}
	keyLog.status = keys.Status
	keyLog.metrics, err = metrics.NewJWKS(reg, keys.Status, nil)
	if err != nil {
		return nil, err
	}
	var revoked *verifier.RevocationList
	if o.revocations != "" {
		if err := checkHTTPURL("--revocations", o.revocations); err != nil {
			return nil, err
		}
		if o.revocationsEvery <= 0 {
			return nil, cli.Usagef("--revocations-every must be positive")
		}
		if o.revocationsMaxStale <= 0 {
			return nil, cli.Usagef("--revocations-max-stale must be positive")
		}
		events := &revocationEvents{url: o.revocations, logger: logger}
		revoked, err = verifier.NewRevocationList(verifier.RevocationConfig{
			URL: o.revocations, Client: revocationClient(), Every: o.revocationsEvery, Observer: events,
			MaxStale: o.revocationsMaxStale, InsecureServeStale: o.insecureServeStale,
		})
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		events.metrics, err = metrics.NewRevocations(reg, revoked.Status, nil)
		if err != nil {
			return nil, err
		}
	}
	h, err := gateHandler(o, gateWiring{
		keys: keys, ready: gateReady(keys.Ready, revoked), algs: algs, upstream: upstream, revoked: revoked, reg: reg, logger: logger,
	})
	if err != nil {
		return nil, err
	}
	return &gateSetup{keys: keys, handler: h, algs: algs, revoked: revoked}, nil
}

func checkHTTPURL(flag, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cli.Usagef("%s %q is not an absolute http(s) URL", flag, s)
	}
	return nil
}

// runGate serves until ctx ends (SIGINT or SIGTERM), then shuts down
// gracefully.
func runGate(ctx context.Context, logger *slog.Logger, o *gateOptions) error {
	g, err := setupGate(o, logger)
	if err != nil {
		return err
	}
	if o.dpop.mode != "off" {
		logger.Info("gate_dpop", slog.String("dpop", dpopInfo(&o.dpop)))
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	srv := httpx.NewServer(g.handler, logger, httpx.ProfileProxy)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }

	jwksSource := o.jwksURL
	if jwksSource == "" {
		jwksSource = "discovered from " + o.issuer
	}
	upstream := o.upstream
	if upstream == "" {
		upstream = "none (demo API)"
	}
	cache := fmt.Sprint(o.cacheSize)
	if o.cacheSize == 0 {
		cache = "off"
	}
	if g.policy != nil {
		logger.Info("gate_listening",
			slog.String("addr", ln.Addr().String()),
			slog.String("policy", o.policy),
			slog.String("upstream", upstream),
			slog.String("cache_size", cache),
			slog.String("health", gate.HealthPath))
	} else {
		logger.Info("gate_listening",
			slog.String("addr", ln.Addr().String()),
			slog.String("issuer", o.issuer),
			slog.String("jwks", jwksSource),
			slog.String("algorithms", g.algs.String()),
			slog.String("audiences", strings.Join(o.audiences, ",")),
			slog.String("upstream", upstream),
			slog.String("public", strings.Join(o.public, ",")),
			slog.Duration("leeway", o.leeway),
			slog.String("cache_size", cache),
			slog.String("token_types", tokenTypesInfo(o)),
			slog.String("revocations", revocationsInfo(o)),
			slog.String("health", gate.HealthPath))
	}
	if o.onListen != nil {
		o.onListen(ln.Addr().String())
	}

	rg := newRunGroup(ctx, logger)
	if g.policy != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		rg.loop("policy", func(ctx context.Context) error { return g.policy.run(ctx, hup, o.policyWatch) })
	} else {
		rg.loop("jwks", func(ctx context.Context) error {
			g.keys.Run(ctx)
			return nil
		})
	}
	if g.revoked != nil {
		rg.loop("revocations", func(ctx context.Context) error {
			g.revoked.Run(ctx)
			return nil
		})
	}
	rg.serve("gate", srv, ln)
	err = rg.wait()
	logger.Info("stopped")
	return err
}

// keyEvents logs the key set's changes, failures and outages and counts
// its fetches; the jwks package itself never logs.
type keyEvents struct {
	logger  *slog.Logger
	metrics *metrics.JWKS      // set once the key set exists
	status  func() jwks.Status // likewise
}

// Fetched implements jwks.Observer: a failed fetch is a warning while the
// last good set is still served, and a debug line during an outage, which
// Unusable has announced already (attempts then come every second).
func (e *keyEvents) Fetched(trigger jwks.Trigger, result string, err error) {
	if e.metrics != nil {
		e.metrics.Fetched(trigger, result, err)
	}
	if err == nil {
		return
	}
	usable := e.status != nil && e.status().Usable
	level := slog.LevelDebug
	if usable {
		level = slog.LevelWarn
	}
	e.logger.Log(context.Background(), level, "key_set_fetch_failed", slog.String("trigger", string(trigger)),
		slog.String("error", err.Error()), slog.Bool("serving_last_good_set", usable))
}

// Changed implements jwks.Observer.
func (e *keyEvents) Changed(st jwks.Status) {
	attrs := []any{slog.String("url", st.URL), slog.String("kids", strings.Join(st.KeyIDs, ",")),
		slog.Time("expires", st.Expires)}
	for _, sk := range st.Skipped {
		attrs = append(attrs, slog.String("skipped_"+fmt.Sprint(sk.Index), fmt.Sprintf("kid %q: %s", sk.KeyID, sk.Reason)))
	}
	e.logger.Info("key_set_loaded", attrs...)
}

// Unusable implements jwks.Observer.
func (e *keyEvents) Unusable(err error) {
	e.logger.Warn("key_set_unusable", slog.String("error", err.Error()))
}

// Recovered implements jwks.Observer.
func (e *keyEvents) Recovered(outage time.Duration) {
	e.logger.Info("key_set_recovered", slog.Duration("outage", outage))
}

var (
	_ jwks.Observer               = (*keyEvents)(nil)
	_ verifier.RevocationObserver = (*revocationEvents)(nil)
	_ gate.RefusalObserver        = (*metrics.Refusals)(nil)
)

// revocationEvents logs the revocation list's changes of state and counts
// its fetches; the list itself never logs.
type revocationEvents struct {
	url     string
	logger  *slog.Logger
	metrics *metrics.Revocations // set once the list exists
}

// Fetched implements verifier.RevocationObserver.
func (e *revocationEvents) Fetched(result string, err error) {
	if e.metrics != nil {
		e.metrics.Fetched(result, err)
	}
}

// Loaded implements verifier.RevocationObserver.
func (e *revocationEvents) Loaded(st verifier.RevocationStatus) {
	e.logger.Info("revocation_list_loaded", slog.String("url", e.url), slog.Int("tokens", st.Tokens),
		slog.Int("sessions", st.Sessions), slog.Int("families", st.Families), slog.Int("users", st.Users))
}

// Unavailable implements verifier.RevocationObserver.
func (e *revocationEvents) Unavailable(err error) {
	e.logger.Warn("revocation_feed_unavailable", slog.String("url", e.url), slog.String("error", err.Error()),
		slog.Bool("serving_last_good_list", true))
}

// Recovered implements verifier.RevocationObserver.
func (e *revocationEvents) Recovered(outage time.Duration, st verifier.RevocationStatus) {
	e.logger.Info("revocation_feed_recovered", slog.String("url", e.url), slog.Duration("outage", outage),
		slog.Int("tokens", st.Tokens), slog.Int("sessions", st.Sessions), slog.Int("families", st.Families), slog.Int("users", st.Users))
}

// tokenTypesInfo names the "typ" values the gate accepts, for its start-up
// line.
func tokenTypesInfo(o *gateOptions) string {
	if o.tokenType != "" {
		return verifier.TypeAccessToken
	}
	return verifier.TypeAccessToken + "," + verifier.TypeJWT
}

// revocationsInfo describes the revocation feed the gate follows, for its
// start-up line.
func revocationsInfo(o *gateOptions) string {
	if o.revocations == "" {
		return "none"
	}
	return o.revocations + " long-poll " + verifier.DefaultRevocationWait.String() + ", else every " + o.revocationsEvery.String()
}

// gateReady is the gate's readiness: the key set's, and the revocation
// list's when the gate follows one, so a gate whose list is older than
// --revocations-max-stale is taken out of rotation.
func gateReady(keys func() error, revoked *verifier.RevocationList) func() error {
	if revoked == nil {
		return keys
	}
	return func() error {
		if err := keys(); err != nil {
			return err
		}
		return revoked.Ready()
	}
}

// revocationClient returns the revocation feed's client: the JWKS client's
// transport and redirect policy, with the time allowed for one answer
// raised to a long-poll's wait plus the fetch timeout, so that a request
// the issuer holds is not cut before the issuer answers it.
func revocationClient() *http.Client {
	c := jwks.NewClient()
	limit := verifier.DefaultRevocationWait + verifier.DefaultRevocationTimeout
	c.Timeout = limit
	if t, ok := c.Transport.(*http.Transport); ok {
		t.ResponseHeaderTimeout = limit
	}
	return c
}
