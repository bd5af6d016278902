package issuer

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// RequiredIDTokenAlgorithm is the algorithm every OpenID Provider must
// offer for ID tokens (OIDC Core §15.1, OIDC Discovery §3).
const RequiredIDTokenAlgorithm = jose.RS256

// KeyManagerConfig configures a [KeyManager]. Durations must not be negative.
type KeyManagerConfig struct {
	// Store holds the keys. Required unless Static is set.
	Store keyward.KeyStore
	// Sealer encrypts private keys before they reach the store. Required
	// unless Static is set, and with Store.
	Sealer *Sealer
	// Alg is the algorithm of the primary keys generated, which sign the
	// access tokens and, by default, the ID tokens. Zero means RS256. When
	// it is another algorithm, the manager also keeps RS256 keys
	// ([keyward.KeyPurposeIDToken]) for the ID tokens of clients that ask
	// for RS256: they are generated, published, activated, retired and
	// removed on the same schedule as the primary keys, each purpose with
	// its own active key.
	Alg jose.Algorithm
	// Bits is the size of generated RSA keys, the RS256 ID-token keys
	// included. Zero means 2048.
	Bits int
	// RotateEvery is how long a key signs before the next one takes over.
	// Zero means 720h (30 days).
	RotateEvery time.Duration
	// AccessTTL is the longest lifetime of the tokens signed (access and ID
	// tokens), which keeps a retired key published until they have all
	// expired. Zero means 15m.
	AccessTTL time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWK Set, the longest a
	// verifier may hold a stale copy. Zero means 5m, lowered to
	// RotateEvery/4 when that is shorter.
	JWKSMaxAge time.Duration
	// PrePublish is how long before it signs a new key is published.
	// Zero means twice JWKSMaxAge plus CheckEvery. It must be at least
	// JWKSMaxAge and less than RotateEvery.
	PrePublish time.Duration
	// Leeway is the clock skew verifiers allow on exp; a retired key stays
	// published that much longer. Zero means 30s.
	Leeway time.Duration
	// CheckEvery is how often Run checks the schedule and reloads the keys
	// from the store, so that rotations made by other replicas or by
	// "keyward keys" show up. Zero means 5s, lowered to RotateEvery/8 when
	// that is shorter (and never under 50ms).
	CheckEvery time.Duration
	// Static, when set, is the one primary key: its kid is its RFC 7638
	// thumbprint, and it is neither stored nor rotated; its algorithm is
	// Alg when the key suits it, else the one its type implies. When that
	// algorithm is not RS256 and Store and Sealer are set too, the RS256
	// ID-token keys live in the store and rotate on the schedule as they
	// would without Static. Without a Store, ID tokens are signed with the
	// static key's algorithm only, and RS256 is not offered.
	Static crypto.Signer
	// Logger receives the key_rotated, key_published, key_retired,
	// key_imported and key_removed audit lines and the errors of Run. Nil means none.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Rand is the source of key material. Nil means crypto/rand.
	Rand io.Reader
}

// ErrIDTokenAlgorithm means an ID token was asked for with an algorithm
// the issuer does not offer: only RS256 and the configured algorithm are.
var ErrIDTokenAlgorithm = errors.New("issuer: ID-token algorithm not offered")

// JWKSDocument is the published JWK Set as served over HTTP.
type JWKSDocument struct {
	// Body is the JSON of the set, keys ordered by creation time, so that
	// replicas sharing a store serve identical bytes.
	Body []byte
	// ETag is the quoted SHA-256 of Body, base64url encoded (RFC 9110 §8.8.3).
	ETag string
	// MaxAge is the Cache-Control max-age.
	MaxAge time.Duration
}

// snapshot is what the manager serves between reloads.
type snapshot struct {
	signer   *jose.Signer // the active primary key; nil when none is active
	idSigner *jose.Signer // the active RS256 ID-token key; nil when none is
	jwks     JWKSDocument
	set      *jose.JWKS
	algs     jose.AlgorithmSet
	// accessAlgs are the algorithms of the published primary keys.
	accessAlgs []jose.Algorithm
	// stored are the keys read from the store at the last reload, without
	// their private halves.
	stored []keyward.SigningKey
}

// KeyManager drives the issuer's signing keys through their life: a new key
// is published (pending) at least one JWKS max-age before it becomes active,
// signs for RotateEvery, then is retired and stays published until
// remove_at = retire_at + AccessTTL + JWKSMaxAge + Leeway, when it is
// deleted. Every change is one [keyward.KeyStore.UpdateKeys] transaction, so
// among replicas sharing a store exactly one makes it: a pure planner, a
// function of the schedule, the stored keys and the time, says what to do;
// the keys it asks for are generated before the transaction, which plans
// again on the keys as they are then and applies that plan.
//
// The keys have a purpose ([keyward.KeyPurpose]), and each purpose has its
// own active key: the primary keys, of the configured algorithm, sign the
// access tokens and by default the ID tokens; when that algorithm is not
// RS256, RS256 ID-token keys go through the same life beside them, so that
// RS256 ID tokens are always offered, as OpenID Connect requires. Both are
// published in the one JWK Set.
//
// Between checks the manager serves an in-memory snapshot: the active
// signers and the JWK Set bytes with their ETag. Its methods are safe for
// concurrent use.
type KeyManager struct {
	cfg  KeyManagerConfig
	snap atomic.Pointer[snapshot]
	// static is the signer of Static, nil without it; staticPub is its
	// public JWK.
	static    *jose.Signer
	staticPub *jose.JWK
	// staticIDKeys reports whether, with Static, RS256 ID-token keys are
	// kept in the store.
	staticIDKeys bool

	mu      sync.Mutex // serialises Step and reload
	signers map[string]*jose.Signer
	// listErr is the error of the last read of the store's keys, nil when
	// it succeeded.
	listErr atomic.Pointer[error]
}

// NewKeyManager validates cfg and returns a manager. With a store, call
// [KeyManager.Step] before serving to make sure a key of each purpose is
// active; with Static alone the manager is ready at once.
func NewKeyManager(cfg KeyManagerConfig) (*KeyManager, error) {
	if cfg.Alg == "" {
		cfg.Alg = jose.RS256
	}
	if _, err := jose.ParseAlgorithm(string(cfg.Alg)); err != nil || cfg.Alg.Symmetric() {
		return nil, fmt.Errorf("issuer: %q is not an asymmetric signing algorithm", cfg.Alg)
	}
	if cfg.RotateEvery < 0 || cfg.AccessTTL < 0 || cfg.JWKSMaxAge < 0 || cfg.PrePublish < 0 || cfg.Leeway < 0 || cfg.CheckEvery < 0 {
		return nil, errors.New("issuer: negative duration in the key manager configuration")
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = 720 * time.Hour
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = min(5*time.Minute, cfg.RotateEvery/4)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = max(min(5*time.Second, cfg.RotateEvery/8), 50*time.Millisecond)
	}
	if cfg.PrePublish == 0 {
		cfg.PrePublish = 2*cfg.JWKSMaxAge + cfg.CheckEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &KeyManager{cfg: cfg, signers: make(map[string]*jose.Signer)}
	if cfg.Static != nil {
		if err := m.loadStatic(); err != nil {
			return nil, err
		}
		if m.static.Algorithm() == RequiredIDTokenAlgorithm || cfg.Store == nil {
			return m, m.publish(m.static, nil, []*jose.JWK{m.staticPub}, []jose.Algorithm{m.static.Algorithm()}, nil)
		}
		m.staticIDKeys = true
	}
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("issuer: the key manager needs a Store and a Sealer, or a Static key")
	}
	if cfg.PrePublish < cfg.JWKSMaxAge {
		return nil, fmt.Errorf("issuer: pre-publication (%s) is shorter than the JWKS max-age (%s): verifiers would meet tokens signed by keys they have not fetched", cfg.PrePublish, cfg.JWKSMaxAge)
	}
	if cfg.PrePublish >= cfg.RotateEvery {
		return nil, fmt.Errorf("issuer: pre-publication (%s) must be shorter than the rotation period (%s)", cfg.PrePublish, cfg.RotateEvery)
	}
	if m.static != nil {
		// Until the first Step, the static key alone.
		return m, m.publish(m.static, nil, []*jose.JWK{m.staticPub}, []jose.Algorithm{m.static.Algorithm()}, nil)
	}
	m.snap.Store(&snapshot{jwks: emptyJWKS(cfg.JWKSMaxAge)})
	return m, nil
}

func emptyJWKS(maxAge time.Duration) JWKSDocument {
	body := []byte(`{"keys":[]}`)
	return JWKSDocument{Body: body, ETag: etag(body), MaxAge: maxAge}
}

func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + b64url.EncodeToString(sum[:18]) + `"`
}

// KeyAlgorithm returns the algorithm a static or imported key signs with
// when alg is configured: alg when the key suits it, else the one its type
// implies (an ES256 configuration with an RSA key gives RS256).
func KeyAlgorithm(key crypto.Signer, alg jose.Algorithm) (jose.Algorithm, error) {
	return keyAlgorithm(key, alg)
}

// keyAlgorithm is [KeyAlgorithm] for a private or a public key.
func keyAlgorithm(key any, alg jose.Algorithm) (jose.Algorithm, error) {
	jwk, err := jose.NewJWK(key, "")
	if err != nil {
		return "", fmt.Errorf("issuer: key: %w", err)
	}
	if alg != "" && jwk.Accepts(alg) {
		return alg, nil
	}
	if alg, err = jose.DefaultAlgorithm(key); err != nil {
		return "", fmt.Errorf("issuer: key: %w", err)
	}
	return alg, nil
}

// loadStatic builds the signer and the public JWK of the static key.
func (m *KeyManager) loadStatic() error {
	alg, err := KeyAlgorithm(m.cfg.Static, m.cfg.Alg)
	if err != nil {
		return err
	}
	jwk, err := jose.NewJWK(m.cfg.Static, alg)
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	signer, err := jose.NewSigner(m.cfg.Static, alg, jwk.KeyID)
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	pub, err := jwk.Public()
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	m.static, m.staticPub = signer, pub
	return nil
}

// publish installs a new snapshot: the active primary and ID-token signers,
// the published keys, and the algorithms of the published primary keys.
func (m *KeyManager) publish(signer, idSigner *jose.Signer, keys []*jose.JWK, primaryAlgs []jose.Algorithm, stored []keyward.SigningKey) error {
	set := &jose.JWKS{Keys: keys}
	body, err := set.MarshalJSON()
	if err != nil {
		return fmt.Errorf("issuer: encoding the JWKS: %w", err)
	}
	var algs []jose.Algorithm
	for _, k := range keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	s := &snapshot{signer: signer, idSigner: idSigner, set: set, accessAlgs: primaryAlgs, stored: stored,
		jwks: JWKSDocument{Body: body, ETag: etag(body), MaxAge: m.cfg.JWKSMaxAge}}
	if len(algs) > 0 {
		s.algs, _ = jose.NewAlgorithmSet(algs...)
	}
	m.snap.Store(s)
	return nil
}

// Signer returns the active primary signer, which signs access tokens, or
// [ErrNoSigningKey].
func (m *KeyManager) Signer() (*jose.Signer, error) {
	if s := m.snap.Load().signer; s != nil {
		return s, nil
	}
	return nil, ErrNoSigningKey
}

// IDTokenSigner returns the active signer of ID tokens asked for with alg:
// for an empty alg the primary signer (the configured algorithm), else the
// active ID-token key when alg is RS256 and one is kept, else the primary
// signer when it signs with alg. It returns
// [ErrNoSigningKey] when no key is active, and an error wrapping
// [ErrIDTokenAlgorithm] when no active key signs with alg.
func (m *KeyManager) IDTokenSigner(alg jose.Algorithm) (*jose.Signer, error) {
	s := m.snap.Load()
	if s.signer == nil && s.idSigner == nil {
		return nil, ErrNoSigningKey
	}
	if alg == "" {
		if s.signer == nil {
			return nil, ErrNoSigningKey
		}
		return s.signer, nil
	}
	for _, c := range []*jose.Signer{s.idSigner, s.signer} {
		if c != nil && c.Algorithm() == alg {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (offered: %s)", ErrIDTokenAlgorithm, alg, joinAlgs(idTokenAlgs(s)))
}

// IDTokenAlgorithms returns the algorithms ID tokens can be signed with
// now, RS256 first when it is among them: the algorithms of the active
// primary and ID-token keys. It is what discovery metadata lists as
// id_token_signing_alg_values_supported.
func (m *KeyManager) IDTokenAlgorithms() []jose.Algorithm { return idTokenAlgs(m.snap.Load()) }

func idTokenAlgs(s *snapshot) []jose.Algorithm {
	var out []jose.Algorithm
	for _, c := range []*jose.Signer{s.idSigner, s.signer} {
		if c != nil && !slices.Contains(out, c.Algorithm()) {
			out = append(out, c.Algorithm())
		}
	}
	slices.SortStableFunc(out, func(a, b jose.Algorithm) int {
		switch {
		case a == b:
			return 0
		case a == RequiredIDTokenAlgorithm:
			return -1
		case b == RequiredIDTokenAlgorithm:
			return 1
		}
		return 0
	})
	return out
}

func joinAlgs(algs []jose.Algorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// JWKS returns the published JWK Set.
func (m *KeyManager) JWKS() JWKSDocument { return m.snap.Load().jwks }

// KeySet returns the published keys, to verify the issuer's own tokens, and
// the algorithms they are bound to.
func (m *KeyManager) KeySet() (*jose.JWKS, jose.AlgorithmSet) {
	s := m.snap.Load()
	if s.set == nil {
		return &jose.JWKS{}, 0
	}
	return s.set, s.algs
}

// Algorithms returns the algorithms of the published keys, of every
// purpose.
func (m *KeyManager) Algorithms() []jose.Algorithm { return m.snap.Load().algs.Algorithms() }

// AccessTokenAlgorithms returns the algorithms of the published primary
// keys: those the access tokens in circulation may be signed with.
func (m *KeyManager) AccessTokenAlgorithms() []jose.Algorithm {
	return slices.Clone(m.snap.Load().accessAlgs)
}

// Static reports whether the manager runs with a static primary key.
func (m *KeyManager) Static() bool { return m.cfg.Static != nil }

// stored reports whether the manager keeps keys in the store: always
// without Static, and with it when it keeps RS256 ID-token keys.
func (m *KeyManager) stored() bool { return m.static == nil || m.staticIDKeys }

// Config returns the configuration with its defaults filled in.
func (m *KeyManager) Config() KeyManagerConfig { return m.cfg }

// Run checks the schedule and reloads the keys every CheckEvery until ctx
// ends, and then returns nil; it never returns before, so a caller that
// runs it in a group may take any earlier return for a failure. A failed
// check is logged as key_check_failed and tried again at the next one; the
// manager keeps serving its last snapshot meanwhile, so a store briefly
// out of reach does not stop the signing.
func (m *KeyManager) Run(ctx context.Context) error {
	if !m.stored() {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(m.cfg.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Step(ctx); err != nil && ctx.Err() == nil && m.cfg.Logger != nil {
				m.cfg.Logger.LogAttrs(ctx, slog.LevelError, "key_check_failed", slog.String("error", err.Error()))
			}
		}
	}
}

// keyEvent is an audit line to write once a transaction has committed.
type keyEvent struct {
	msg   string
	attrs []slog.Attr
}

// event returns an audit line about a key of purpose; ID-token keys carry
// purpose=id_token.
func event(msg string, purpose keyward.KeyPurpose, attrs ...slog.Attr) keyEvent {
	if purpose != keyward.KeyPurposePrimary {
		attrs = append(attrs, slog.String("purpose", string(purpose)))
	}
	return keyEvent{msg, attrs}
}

// Step applies the schedule at the manager's clock, to the keys of each
// purpose: it removes keys past remove_at, activates a pending key whose
// time has come and retires the key it replaces, publishes a new pending
// key when the active one nears its retirement, makes a key active when
// none is (the first start), and then reloads the snapshot from the store.
// Tests drive rotation by moving the clock and calling Step.
func (m *KeyManager) Step(ctx context.Context) error {
	if !m.stored() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	keys, err := m.listKeys(ctx)
	if err != nil {
		return err
	}
	if err := m.checkMasterKey(keys); err != nil {
		return err
	}
	// The plan on the keys as listed says which keys to generate; they are
	// generated here, outside the transaction, which plans again on the
	// keys as they are then and applies that plan.
	sched := m.schedule()
	fresh := map[keyward.KeyPurpose]keyward.SigningKey{}
	for _, a := range planKeys(sched, keys, now) {
		if !a.needsKey() {
			continue
		}
		k, err := m.newKey(nil, sched.algOf(a.purpose), a.purpose, now)
		if err != nil {
			return err
		}
		fresh[a.purpose] = k
	}
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		next, evs, applied := applyKeyPlan(sched, cur, planKeys(sched, cur, now), now, fresh)
		events = evs
		if applied == 0 {
			return nil, keyward.ErrNoChange
		}
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("issuer: updating keys: %w", err)
	}
	m.log(ctx, events)
	return m.reloadLocked(ctx, now)
}

// Reload reads the keys from the store and rebuilds the snapshot, without
// changing anything.
func (m *KeyManager) Reload(ctx context.Context) error {
	if !m.stored() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(ctx, m.cfg.Now())
}

func (m *KeyManager) log(ctx context.Context, events []keyEvent) {
	if m.cfg.Logger == nil {
		return
	}
	for _, e := range events {
		m.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, e.msg, e.attrs...)
	}
}

// keepsIDTokenKeys reports whether RS256 ID-token keys are needed beside
// the primary keys in keys (see [keySchedule.keepsIDTokenKeys]).
func (m *KeyManager) keepsIDTokenKeys(keys []keyward.SigningKey) bool {
	return m.schedule().keepsIDTokenKeys(keys)
}

// newKey generates (or, with key set, wraps) a private key for alg and
// returns it sealed, with its public JWK, ready to store with purpose.
func (m *KeyManager) newKey(key crypto.Signer, alg jose.Algorithm, purpose keyward.KeyPurpose, now time.Time) (keyward.SigningKey, error) {
	if key == nil {
		k, err := jose.GenerateKey(alg, m.cfg.Bits, m.cfg.Rand)
		if err != nil {
			return keyward.SigningKey{}, fmt.Errorf("issuer: generating a %s key: %w", alg, err)
		}
		key = k.(crypto.Signer)
	}
	jwk, err := jose.NewJWK(key, alg)
	if err != nil {
		return keyward.SigningKey{}, fmt.Errorf("issuer: %w", err)
	}
	pub, err := jwk.Public()
	if err != nil {
		return keyward.SigningKey{}, fmt.Errorf("issuer: %w", err)
	}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return keyward.SigningKey{}, fmt.Errorf("issuer: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return keyward.SigningKey{}, fmt.Errorf("issuer: encoding the private key: %w", err)
	}
	sealed, err := m.cfg.Sealer.Seal(jwk.KeyID, der)
	clear(der)
	if err != nil {
		return keyward.SigningKey{}, err
	}
	return keyward.SigningKey{
		ID:         jwk.KeyID,
		Algorithm:  string(alg),
		Purpose:    purpose,
		PrivateKey: sealed,
		PublicJWK:  pubJSON,
		CreatedAt:  now,
	}, nil
}

// reloadLocked rebuilds the snapshot from the stored keys. With Static, the
// stored primary keys are neither published nor used: the static key
// replaces them.
func (m *KeyManager) reloadLocked(ctx context.Context, now time.Time) error {
	keys, err := m.listKeys(ctx)
	if err != nil {
		return err
	}
	var (
		pubs        []*jose.JWK
		primaryAlgs []jose.Algorithm
		active      = map[keyward.KeyPurpose]*keyward.SigningKey{}
	)
	if m.static != nil {
		pubs = append(pubs, m.staticPub)
		primaryAlgs = append(primaryAlgs, m.static.Algorithm())
	}
	for i, k := range keys {
		if k.State == keyward.KeyRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt) {
			continue // due for removal; the next step deletes it
		}
		if m.static != nil && k.Purpose == keyward.KeyPurposePrimary {
			continue
		}
		jwk, err := jose.ParseJWK(k.PublicJWK)
		if err != nil {
			return fmt.Errorf("issuer: key %q: %w", k.ID, err)
		}
		if !jwk.IsPublic() || jwk.KeyID != k.ID {
			return fmt.Errorf("issuer: key %q: stored public JWK is not the key's public half", k.ID)
		}
		pubs = append(pubs, jwk)
		if k.Purpose == keyward.KeyPurposePrimary && !slices.Contains(primaryAlgs, jwk.Algorithm) {
			primaryAlgs = append(primaryAlgs, jwk.Algorithm)
		}
		if a := active[k.Purpose]; k.State == keyward.KeyActive && (a == nil || !k.ActivateAt.Before(a.ActivateAt)) {
			active[k.Purpose] = &keys[i]
		}
	}
	// Only the active keys' signers are kept.
	signers := make(map[string]*jose.Signer, 2)
	signerOf := func(k *keyward.SigningKey) (*jose.Signer, error) {
		if k == nil {
			return nil, nil
		}
		s := m.signers[k.ID]
		if s == nil {
			var err error
			if s, err = m.open(*k); err != nil {
				return nil, err
			}
		}
		signers[k.ID] = s
		return s, nil
	}
	signer := m.static
	if signer == nil {
		if signer, err = signerOf(active[keyward.KeyPurposePrimary]); err != nil {
			return err
		}
	}
	idSigner, err := signerOf(active[keyward.KeyPurposeIDToken])
	if err != nil {
		return err
	}
	m.signers = signers
	return m.publish(signer, idSigner, pubs, primaryAlgs, publicHalves(keys))
}

// publicHalves returns a copy of keys without their sealed private halves.
func publicHalves(keys []keyward.SigningKey) []keyward.SigningKey {
	out := make([]keyward.SigningKey, len(keys))
	for i, k := range keys {
		k.PrivateKey = nil
		out[i] = k
	}
	return out
}

// listKeys reads the stored keys and records the outcome for
// [KeyManager.Keys].
func (m *KeyManager) listKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	keys, err := m.cfg.Store.ListKeys(ctx)
	if err != nil {
		err = fmt.Errorf("issuer: listing keys: %w", err)
		m.listErr.Store(&err)
		return nil, err
	}
	m.listErr.Store(nil)
	return keys, nil
}

// Keys returns the stored keys as the manager read them at its last check
// (every CheckEvery while Run runs), without their private halves, so that
// gauges and status pages can show the keys' states without a store query
// and without ever holding key material; the schedule's times in them are
// as stored. When that last read of the store failed, Keys returns the
// error, and the keys of the read before. With Static alone (no store) it
// returns no keys.
func (m *KeyManager) Keys() ([]keyward.SigningKey, error) {
	keys := slices.Clone(m.snap.Load().stored)
	if err := m.listErr.Load(); err != nil {
		return keys, *err
	}
	return keys, nil
}

// checkMasterKey makes sure the manager's master key opens the stored keys
// before it adds one, so that a wrong KEYWARD_MASTER_KEY can never leave the
// store with keys sealed under two master keys. Verify-only keys have no
// sealed half to open.
func (m *KeyManager) checkMasterKey(keys []keyward.SigningKey) error {
	i := len(keys) - 1
	for i >= 0 && verifyOnly(keys[i]) {
		i--
	}
	if i < 0 {
		return nil
	}
	k := keys[i]
	pt, err := m.cfg.Sealer.Open(k.ID, k.PrivateKey)
	clear(pt)
	return err
}

// storedKeys lists the stored keys and checks that the master key opens
// them.
func (m *KeyManager) storedKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	keys, err := m.listKeys(ctx)
	if err != nil {
		return nil, err
	}
	return keys, m.checkMasterKey(keys)
}

// open unseals a stored key and returns its signer.
func (m *KeyManager) open(k keyward.SigningKey) (*jose.Signer, error) {
	der, err := m.cfg.Sealer.Open(k.ID, k.PrivateKey)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("issuer: key %q: parsing the private key: %w", k.ID, err)
	}
	alg, err := jose.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("issuer: key %q: %w", k.ID, err)
	}
	kid, err := jose.Thumbprint(priv)
	if err != nil || kid != k.ID {
		return nil, fmt.Errorf("issuer: key %q: the private key does not match its key ID", k.ID)
	}
	s, err := jose.NewSigner(priv, alg, k.ID)
	if err != nil {
		return nil, fmt.Errorf("issuer: key %q: %w", k.ID, err)
	}
	return s, nil
}

// Rotate adds a new primary key and, when ID-token keys are kept, a new
// RS256 ID-token key. With immediate false they are published as pending
// and take over after the pre-publication window, when the active keys are
// retired; with immediate true they sign at once and the active keys are
// retired now, so verifiers meet a kid they may not hold yet (they refetch
// on an unknown kid). It returns the new primary key's ID; the audit lines
// name both.
func (m *KeyManager) Rotate(ctx context.Context, immediate bool) (string, error) {
	return m.add(ctx, nil, m.cfg.Alg, immediate, true)
}

// Import adds key as a new primary signing key, like [KeyManager.Rotate]
// but leaving the ID-token keys alone: it becomes the next signer (at once
// with immediate) and the active key's retirement is scheduled. Its
// algorithm is the manager's when the key suits it, else the one its type
// implies. It writes a key_imported audit line (kid, alg, verify_only=false)
// and returns the key's ID, or an error wrapping [keyward.ErrConflict] when
// the key is already stored. To publish a key another signer used, so that
// its tokens keep verifying, without ever signing with it, use
// [KeyManager.ImportVerifyOnly].
func (m *KeyManager) Import(ctx context.Context, key crypto.Signer, immediate bool) (string, error) {
	alg, err := KeyAlgorithm(key, m.cfg.Alg)
	if err != nil {
		return "", err
	}
	kid, err := m.add(ctx, key, alg, immediate, false)
	if err == nil {
		m.log(ctx, []keyEvent{event("key_imported", keyward.KeyPurposePrimary, slog.String("kid", kid), slog.String("alg", string(alg)),
			slog.Bool("verify_only", false), slog.Bool("immediate", immediate))})
	}
	return kid, err
}

// ImportVerifyOnly publishes the public half of key (a public or a private
// key; only the public half is stored) as a verify-only primary key until
// until: the JWK Set holds it so that tokens another signer made with it
// keep verifying, as during a migration to the issuer, but the issuer never
// signs with it (it is stored retired, never pending or active), it
// triggers no rotation and the active key is left alone; it leaves the set
// at until, after which the tokens it signed no longer verify. until must
// be after the manager's clock. kid is the key ID it is published under:
// the kid the other signer wrote in its tokens (at most 256 printable
// ASCII characters), or empty for the key's RFC 7638 thumbprint. It writes
// a key_imported audit line (kid, alg, verify_only=true, until) and
// returns the key ID, or an error wrapping [keyward.ErrConflict] when a key
// of that ID is already stored, or [ErrStaticKey] with a static key.
func (m *KeyManager) ImportVerifyOnly(ctx context.Context, key any, kid string, until time.Time) (string, error) {
	if m.Static() {
		return "", ErrStaticKey
	}
	pub, err := jose.PublicKey(key)
	if err != nil {
		return "", fmt.Errorf("issuer: key: %w", err)
	}
	alg, err := keyAlgorithm(pub, m.cfg.Alg)
	if err != nil {
		return "", err
	}
	jwk, err := jose.NewJWK(pub, alg)
	if err != nil {
		return "", fmt.Errorf("issuer: %w", err)
	}
	if kid != "" {
		if len(kid) > 256 || strings.ContainsFunc(kid, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return "", fmt.Errorf("issuer: key ID %q: want at most 256 printable ASCII characters", kid)
		}
		jwk.KeyID = kid
	}
	pubJSON, err := jwk.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("issuer: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if !until.After(now) {
		return "", fmt.Errorf("issuer: a verify-only key must stay published until a time after now (%s), not %s",
			now.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	}
	k := keyward.SigningKey{ID: jwk.KeyID, Algorithm: string(alg), Purpose: keyward.KeyPurposePrimary, PublicJWK: pubJSON, CreatedAt: now}
	sched := m.schedule()
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		if slices.ContainsFunc(cur, func(s keyward.SigningKey) bool { return s.ID == k.ID }) {
			return nil, fmt.Errorf("issuer: key %q is already stored: %w", k.ID, keyward.ErrConflict)
		}
		action := keyAction{kind: keyAddVerifyOnly, purpose: keyward.KeyPurposePrimary, at: until}
		keys, evs, _ := applyKeyPlan(sched, cur, []keyAction{action}, now, map[keyward.KeyPurpose]keyward.SigningKey{k.Purpose: k})
		events = evs
		return keys, nil
	})
	if err != nil {
		return "", err
	}
	m.log(ctx, events)
	return k.ID, m.reloadLocked(ctx, now)
}

// add adds a primary key (key, or a new one when nil) and, with idToken
// set and when ID-token keys are kept, a new ID-token key.
func (m *KeyManager) add(ctx context.Context, key crypto.Signer, alg jose.Algorithm, immediate, idToken bool) (string, error) {
	if m.Static() {
		return "", ErrStaticKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	stored, err := m.storedKeys(ctx)
	if err != nil {
		return "", err
	}
	k, err := m.newKey(key, alg, keyward.KeyPurposePrimary, now)
	if err != nil {
		return "", err
	}
	added := []keyward.SigningKey{k}
	if idToken && m.keepsIDTokenKeys(stored) {
		idk, err := m.newKey(nil, RequiredIDTokenAlgorithm, keyward.KeyPurposeIDToken, now)
		if err != nil {
			return "", err
		}
		added = append(added, idk)
	}
	sched := m.schedule()
	fresh := map[keyward.KeyPurpose]keyward.SigningKey{}
	for _, n := range added {
		fresh[n.Purpose] = n
	}
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		var actions []keyAction
		for _, n := range added {
			if slices.ContainsFunc(cur, func(s keyward.SigningKey) bool { return s.ID == n.ID }) {
				return nil, fmt.Errorf("issuer: key %q is already stored: %w", n.ID, keyward.ErrConflict)
			}
			actions = append(actions, addPlan(sched, cur, n.Purpose, immediate, now)...)
		}
		keys, evs, _ := applyKeyPlan(sched, cur, actions, now, fresh)
		events = evs
		return keys, nil
	})
	if err != nil {
		return "", err
	}
	m.log(ctx, events)
	return k.ID, m.reloadLocked(ctx, now)
}

// Retire retires the key kid now, of whichever purpose. When it is the
// active key of its purpose, the pending key of that purpose due first
// takes over at once, or, when there is none, a new key is generated and
// takes over. It returns an error wrapping [ErrKeyNotFound] for an unknown
// kid.
func (m *KeyManager) Retire(ctx context.Context, kid string) error {
	if m.Static() {
		return ErrStaticKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	stored, err := m.storedKeys(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(stored, func(k keyward.SigningKey) bool { return k.ID == kid })
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
	}
	purpose := stored[i].Purpose
	// A successor is generated before the transaction in case it is needed.
	var fresh *keyward.SigningKey
	if purpose == keyward.KeyPurposePrimary || m.keepsIDTokenKeys(stored) {
		k, err := m.newKey(nil, m.schedule().algOf(purpose), purpose, now)
		if err != nil {
			return err
		}
		fresh = &k
	}
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		keys := slices.Clone(cur)
		i := slices.IndexFunc(keys, func(k keyward.SigningKey) bool { return k.ID == kid })
		if i < 0 {
			return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
		}
		if keys[i].State == keyward.KeyRetired {
			return nil, keyward.ErrNoChange
		}
		sched := m.schedule()
		actions := []keyAction{{kind: keyRetire, purpose: purpose, kid: kid, logged: true}}
		pending := slices.ContainsFunc(keys, func(k keyward.SigningKey) bool {
			return k.Purpose == purpose && k.State == keyward.KeyPending
		})
		if keys[i].State == keyward.KeyActive && !pending && fresh != nil {
			// No successor waits: a new key takes over at once.
			actions = append(actions, keyAction{kind: keyCreateActive, purpose: purpose, previous: kid})
			keys, evs, _ := applyKeyPlan(sched, keys, actions, now, map[keyward.KeyPurpose]keyward.SigningKey{purpose: *fresh})
			events = evs
			return keys, nil
		}
		// A pending key, if any, takes over in the plan; keys the plan
		// would add are left to the next check.
		keys, events, _ = applyKeyPlan(sched, keys, actions, now, nil)
		keys, evs, _ := applyKeyPlan(sched, keys, planKeys(sched, keys, now), now, nil)
		events = append(events, evs...)
		return keys, nil
	})
	if err != nil {
		return err
	}
	m.log(ctx, events)
	return m.reloadLocked(ctx, now)
}
