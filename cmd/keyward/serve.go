package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/storage/postgres"
	"github.com/keyward/keyward/storage/sqlite"
)

// storeFlags are the --data and --db flags shared by serve, user, client and
// keys, so that they all work on the same store.
type storeFlags struct {
	data string
	db   string
	// lookupEnv reads KEYWARD_MASTER_KEY.
	lookupEnv func(string) (string, bool)
}

const defaultDataDir = "./keyward-data"

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", defaultDataDir, "data directory (SQLite database, master key, admin password)")
	cmd.Flags().StringVar(&f.db, "db", "", "store: sqlite:PATH or postgres://... (default sqlite:<data>/keyward.db)")
}

// dsn returns the store's address, defaulting to the SQLite file in the
// data directory.
func (f *storeFlags) dsn() string {
	if f.db != "" {
		return f.db
	}
	return "sqlite:" + filepath.Join(f.data, "keyward.db")
}

// ensureDataDir creates the data directory with mode 0700.
func (f *storeFlags) ensureDataDir() error {
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	return nil
}

// open opens the store the flags name.
func (f *storeFlags) open(ctx context.Context) (keyward.Store, error) {
	dsn := f.dsn()
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, errors.New("--db sqlite: needs a path, e.g. sqlite:./keyward-data/keyward.db")
		}
		if err := f.ensureDataDir(); err != nil {
			return nil, err
		}
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
		if err != nil {
			return nil, fmt.Errorf("opening the SQLite store: %w", err)
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		return s, nil
	}
	return nil, cli.Usagef("--db %q: want sqlite:PATH or postgres://...", dsn)
}

// masterKeyEnv names the environment variable holding the master key.
const masterKeyEnv = "KEYWARD_MASTER_KEY"

// masterKey returns the master key from KEYWARD_MASTER_KEY (base64 or hex of
// 32 bytes) or from <data>/master.key, which it creates (0600, 32 random
// bytes in base64) when create is set and the file does not exist.
func (f *storeFlags) masterKey(create bool) ([]byte, error) {
	if v, ok := f.lookupEnv(masterKeyEnv); ok {
		k, err := issuer.ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", masterKeyEnv, err)
		}
		return k, nil
	}
	path := filepath.Join(f.data, "master.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := f.ensureDataDir(); err != nil {
			return nil, err
		}
		key := make([]byte, issuer.MasterKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeSecretFile(path, base64.StdEncoding.EncodeToString(key)+"\n"); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("creating the master key: %w", err)
			}
			// Another process created it first: use theirs.
		} else {
			return key, nil
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no master key: set %s or run \"keyward serve\" once to create %s", masterKeyEnv, path)
		}
		return nil, fmt.Errorf("reading the master key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users (mode %v); fix with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	k, err := issuer.ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// writeSecretFile creates path with mode 0600; it fails if path exists.
func writeSecretFile(path, content string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(fh, content); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// keyFlags are the schedule flags serve and keys share.
type keyFlags struct {
	alg         string
	accessTTL   time.Duration
	rotateEvery time.Duration
	// now is the key manager's clock; nil means time.Now.
	now func() time.Time
}

func (f *keyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.alg, "alg", "RS256", "signing algorithm of new keys: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA")
	cmd.Flags().DurationVar(&f.accessTTL, "access-ttl", 15*time.Minute, "access-token lifetime")
	cmd.Flags().DurationVar(&f.rotateEvery, "rotate-every", 720*time.Hour, "signing-key rotation period")
}

// algorithm returns the --alg flag's algorithm.
func (f *keyFlags) algorithm() (jose.Algorithm, error) {
	alg, err := jose.ParseAlgorithm(f.alg)
	if err != nil || alg.Symmetric() {
		return "", cli.Usagef("--alg %q: want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", f.alg)
	}
	return alg, nil
}

// keyManager builds the key manager on store, or on a static key. With a
// master key, keys are kept in the store: all of them without a static
// key, the RS256 ID-token keys with one.
func (f *keyFlags) keyManager(store keyward.KeyStore, masterKey []byte, static crypto.Signer, logger *slog.Logger) (*issuer.KeyManager, error) {
	alg, err := f.algorithm()
	if err != nil {
		return nil, err
	}
	cfg := issuer.KeyManagerConfig{
		Alg: alg, RotateEvery: f.rotateEvery, AccessTTL: f.accessTTL, Static: static, Logger: logger, Now: f.now,
	}
	if masterKey != nil {
		sealer, err := issuer.NewSealer(masterKey, nil)
		if err != nil {
			return nil, err
		}
		cfg.Store, cfg.Sealer = store, sealer
	}
	km, err := issuer.NewKeyManager(cfg)
	if err != nil {
		return nil, err
	}
	return km, nil
}

// readSigningKey reads a PEM private key for --signing-key.
func readSigningKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	key, err := jose.ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("--signing-key %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("--signing-key %s: not a private key (make one with: keyward keygen --out %s)", path, path)
	}
	return signer, nil
}

// serveOptions are the flags of keyward serve.
type serveOptions struct {
	store      storeFlags
	keys       keyFlags
	listen     string
	issuer     string
	refreshTTL time.Duration
	signingKey string
	audience   string
	log        logFlags

	allowPrivateJWKSURLs bool
	// metricsListen, when set, serves /metrics on its own listener
	// instead of the issuer's.
	metricsListen string
	// trustedProxies lists the proxies whose X-Forwarded-For or
	// Forwarded names the client of the login throttle.
	trustedProxies string
	// waitersPerClient bounds the revocation feed's long-polls held for
	// one client network.
	waitersPerClient int
	// requireMFA makes every user sign in with a second factor.
	requireMFA bool
	// dpopNonce turns on the DPoP server nonces of /token and /userinfo.
	dpopNonce bool

	printConfig bool
	// loops are more members of the run group, for tests.
	loops []namedLoop
}

// newServeCmd returns "keyward serve", the authorization server.
func newServeCmd(a *app) *cobra.Command {
	o := serveOptions{store: storeFlags{lookupEnv: a.lookupEnv}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server: login, tokens, refresh, revocation, JWKS, key rotation",
		Long: `Run the authorization server on the embedded SQLite store (or PostgreSQL).

On the first start with an empty store it creates the user "admin" with a
random password, prints it once ("admin password: ...") and writes it to
<data>/admin-password (mode 0600). Private signing keys are encrypted with the
master key from KEYWARD_MASTER_KEY or <data>/master.key (created on first start).
First-party /login tokens carry the audience of --audience ("api" by default).

It binds --listen (and --metrics-listen) before anything else, so a busy
address fails at once, before anything is created; requests wait until the
admin password file exists. GET /metrics is served on --listen, or only on
--metrics-listen when that is set (keep it off a public listener).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.printConfig {
				return cli.PrintConfig(a.stdout, cmd.Flags())
			}
			return runServe(cmd.Context(), a, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:4000", "address to listen on")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve GET /metrics on this address instead of on --listen (e.g. 127.0.0.1:9464)")
	f.StringVar(&o.issuer, "issuer", "http://localhost:4000", "issuer URL: the iss claim and the base of the metadata URLs")
	o.store.register(cmd)
	o.keys.register(cmd)
	f.DurationVar(&o.refreshTTL, "refresh-ttl", 720*time.Hour, "absolute lifetime of a refresh-token family")
	f.StringVar(&o.signingKey, "signing-key", "", "sign with this PEM private key only (no rotation)")
	f.StringVar(&o.audience, "audience", issuer.DefaultAudience, "aud of first-party /login tokens, and of client tokens when the client has none")
	f.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated CIDR prefixes of the reverse proxies in front of serve, whose X-Forwarded-For (or Forwarded) names the client address of the login throttle")
	f.IntVar(&o.waitersPerClient, "revocation-waiters-per-client", server.MaxRevocationWaitersPerClient, "most long-polls of the revocation feed held at once for one client address (an IPv4 address or an IPv6 /64; 0 means 64); past it that client's verifiers poll")
	f.BoolVar(&o.requireMFA, "require-mfa", false, "make every user sign in with a second factor after the password (a user without one enrols TOTP at the next sign-in)")
	f.BoolVar(&o.allowPrivateJWKSURLs, "allow-private-jwks-urls", false, "let clients' --jwks-url reach loopback, private and link-local addresses, and loopback over plain http (development only)")
	f.BoolVar(&o.dpopNonce, "dpop-nonce", false, "require a server nonce (DPoP-Nonce, derived from the master key) in every DPoP proof sent to /token and /userinfo")
	o.log.register(cmd)
	f.String(cli.ConfigFlag, "", "YAML file of flag values (keys are the flag names); flags and KEYWARD_* variables override it")
	f.BoolVar(&o.printConfig, cli.PrintConfigFlag, false, "print the effective configuration as YAML, secrets masked, and exit")
	return cmd
}

func runServe(ctx context.Context, a *app, o *serveOptions) error {
	logger, err := o.log.logger(a.stderr)
	if err != nil {
		return err
	}
	if o.issuer == "" || !(strings.HasPrefix(o.issuer, "http://") || strings.HasPrefix(o.issuer, "https://")) {
		return cli.Usagef("--issuer %q: want an http(s) URL such as https://auth.example.com", o.issuer)
	}
	// Bind before anything else: a busy address fails at once, before the
	// data directory, the admin password or a key is made. Connections
	// that arrive while the store is opened and the admin user created
	// wait in the listen backlog until the server answers, so that
	// <data>/admin-password exists before the first request is answered.
	trusted, err := server.ParseTrustedProxies(o.trustedProxies)
	if err != nil {
		return cli.Usagef("--trusted-proxies: %v", err)
	}
	if o.waitersPerClient < 0 {
		return cli.Usagef("--revocation-waiters-per-client must not be negative (0 means the default, %d)", server.MaxRevocationWaitersPerClient)
	}
	ln, err := listen("--listen", o.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn net.Listener
	if o.metricsListen != "" {
		if metricsLn, err = listen("--metrics-listen", o.metricsListen); err != nil {
			return err
		}
		defer metricsLn.Close()
	}

	if err := o.store.ensureDataDir(); err != nil {
		return err
	}
	store, err := o.store.open(ctx)
	if err != nil {
		return err
	}
	// Deferred first, so run last: the store closes only once every member
	// of the run group below has returned.
	defer store.Close()

	var (
		static    crypto.Signer
		masterKey []byte
	)
	needMasterKey := true
	if o.signingKey != "" {
		if static, err = readSigningKey(o.signingKey); err != nil {
			return err
		}
		alg, err := o.keys.algorithm()
		if err != nil {
			return err
		}
		// A static key that cannot sign RS256 gets RS256 ID-token keys
		// in the store, sealed with the master key.
		if alg, err = issuer.KeyAlgorithm(static, alg); err != nil {
			return fmt.Errorf("--signing-key %s: %w", o.signingKey, err)
		}
		needMasterKey = alg != issuer.RequiredIDTokenAlgorithm
	}
	if needMasterKey || o.requireMFA {
		if masterKey, err = o.store.masterKey(true); err != nil {
			if o.requireMFA && !needMasterKey {
				return requireMFAError(err, o.store.data)
			}
			return err
		}
	}
	km, err := o.keys.keyManager(store, masterKey, static, logger)
	if err != nil {
		return err
	}
	if err := km.Step(ctx); err != nil {
		return err
	}
	sweeper, err := issuer.NewSweeper(issuer.SweeperConfig{Store: store, AccessTTL: o.keys.accessTTL, Logger: logger})
	if err != nil {
		return err
	}
	reg, issuerMetrics, httpMetrics, err := serveMetrics(km)
	if err != nil {
		return err
	}
	// Clients registered with a JWKS URL for private_key_jwt.
	clientKeys, err := jwks.NewCache(jwks.CacheConfig{AllowPrivate: o.allowPrivateJWKSURLs, AllowLoopbackHTTP: o.allowPrivateJWKSURLs})
	if err != nil {
		return err
	}
	// Known-browser cookies are signed with a key derived from the master
	// key, so they outlive a restart and every replica accepts them;
	// without a master key they last as long as the process.
	var throttle issuer.ThrottleConfig
	if masterKey != nil {
		if throttle.KnownBrowserKey, err = issuer.KnownBrowserKey(masterKey); err != nil {
			return err
		}
		// The throttle's buckets in the store are named under a key
		// derived from it too, so that every replica shares them.
		if throttle.BucketKey, err = issuer.ThrottleKey(masterKey); err != nil {
			return err
		}
	}
	// A revocation made by this process wakes its held long-polls at once;
	// on PostgreSQL the notifications of every replica do it.
	var api *server.Server
	served := store
	if _, ok := store.(*postgres.Store); !ok {
		served = server.WakeOnRevoke(store, func() {
			if api != nil {
				api.WakeRevocations()
			}
		})
	}
	// TOTP secrets are sealed under a key derived from the master key;
	// without one (a static RS256 --signing-key), TOTP is off.
	var totpSealer *issuer.Sealer
	if masterKey != nil {
		if totpSealer, err = issuer.NewTOTPSealer(masterKey, nil); err != nil {
			return err
		}
	}
	iss, err := issuer.New(issuer.Config{
		Store: served, Keys: km, Issuer: o.issuer, Audience: o.audience,
		AccessTTL: o.keys.accessTTL, RefreshTTL: o.refreshTTL, Logger: logger,
		ClientKeys: clientKeys.Keys,
		Observer:   issuerMetrics,
		Throttle:   throttle,
		RequireMFA: o.requireMFA,
		Sealer:     totpSealer,
	})
	if err != nil {
		return err
	}
	// Usernames stored by an earlier version take their normalised form.
	if err := normalizeUsernames(ctx, store, logger); err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, a.stdout, store, o.store.data); err != nil {
		return err
	}
	passkeys, err := servePasskeys(ctx, iss, logger)
	if err != nil {
		return err
	}
	warnNoSecondFactor(ctx, logger, iss, passkeys, o.store.data)
	nonces, err := dpopNonces(o.dpopNonce, masterKey, &o.store)
	if err != nil {
		return err
	}
	api, err = server.New(server.Config{Issuer: iss, Store: served, Revocations: store, Logger: logger, Metrics: httpMetrics,
		TrustedProxies: trusted, DPoPNonces: nonces, Passkeys: passkeys, RevocationWaitersPerClient: o.waitersPerClient})
	if err != nil {
		return err
	}
	bcMetrics, err := metrics.NewBackchannel(reg)
	if err != nil {
		return err
	}
	backchannel, err := server.NewBackchannel(server.BackchannelConfig{Issuer: iss, Store: store, Logger: logger, Observer: bcMetrics})
	if err != nil {
		return err
	}
	handler := http.NewServeMux()
	handler.Handle("/", api)
	rg := newRunGroup(ctx, logger)
	if metricsLn == nil {
		// /metrics shares the listener with the issuer's endpoints.
		handler.Handle("GET /metrics", metrics.Handler(reg))
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		msrv := httpx.NewServer(mux, logger, httpx.ProfileAPI)
		msrv.BaseContext = func(net.Listener) context.Context { return ctx }
		rg.serve("metrics", msrv, metricsLn)
	}
	srv := httpx.NewServer(handler, logger, httpx.ProfileAPI)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	signer, _ := km.Signer()
	idAlgs := make([]string, 0, 2)
	for _, a := range km.IDTokenAlgorithms() {
		idAlgs = append(idAlgs, string(a))
	}
	attrs := []any{slog.String("addr", ln.Addr().String()), slog.String("issuer", o.issuer),
		slog.String("audience", o.audience), slog.String("kid", signer.KeyID()), slog.String("alg", string(signer.Algorithm())),
		slog.String("id_token_algs", strings.Join(idAlgs, ",")), slog.Bool("static_key", km.Static())}
	if metricsLn != nil {
		attrs = append(attrs, slog.String("metrics_addr", metricsLn.Addr().String()))
	}
	logger.Info("listening", attrs...)

	rg.loop("key_manager", km.Run)
	rg.loop("sweeper", sweeper.Run)
	rg.loop("backchannel_logout", backchannel.Run)
	if ps, ok := store.(*postgres.Store); ok {
		rg.loop("revocation_listener", revocationListener(ps, api, logger))
	}
	for _, l := range o.loops {
		rg.loop(l.name, l.run)
	}
	rg.serve("issuer", srv, ln)
	err = rg.wait()
	logger.Info("stopped")
	return err
}

// namedLoop is a background loop of serve with the name its failure is
// logged under.
type namedLoop struct {
	name string
	run  func(context.Context) error
}

// listen binds addr for flag; an address in use names the flag that
// changes it.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s %s: address already in use: stop what listens there or choose another address with %s", flag, addr, flag)
	}
	return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
}

// serveMetrics builds serve's registry: the issuer's counters, the HTTP
// latency histogram, and the key gauges, fed from the key manager's
// in-memory view of the keys so that a scrape never queries the store (nor
// loads the sealed private keys).
func serveMetrics(km *issuer.KeyManager) (*prometheus.Registry, *metrics.Issuer, *metrics.HTTP, error) {
	reg := metrics.NewRegistry()
	issuerMetrics, err := metrics.NewIssuer(reg)
	if err != nil {
		return nil, nil, nil, err
	}
	httpMetrics, err := metrics.NewHTTP(reg, "issuer")
	if err != nil {
		return nil, nil, nil, err
	}
	keys := func(context.Context) ([]keyward.SigningKey, error) { return km.Keys() }
	if err := metrics.RegisterKeys(reg, keys, nil); err != nil {
		return nil, nil, nil, err
	}
	return reg, issuerMetrics, httpMetrics, nil
}

// bootstrapAdmin creates the admin user of an empty store, prints its
// password once and writes it to <data>/admin-password (0600).
func bootstrapAdmin(ctx context.Context, stdout io.Writer, store keyward.UserStore, dataDir string) error {
	password, created, err := issuer.Bootstrap(ctx, store, issuer.PasswordParams{}, nil)
	if err != nil || !created {
		return err
	}
	path := filepath.Join(dataDir, "admin-password")
	_ = os.Remove(path) // a stale file from an earlier, wiped store
	if err := writeSecretFile(path, password+"\n"); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = fmt.Fprintf(stdout, "admin password: %s\n(also written to %s)\n", password, path)
	return err
}
