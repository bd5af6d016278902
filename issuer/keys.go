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
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// KeyManagerConfig configures a [KeyManager]. Durations must not be negative.
type KeyManagerConfig struct {
	// Store holds the keys. Required unless Static is set.
	Store keyward.KeyStore
	// Sealer encrypts private keys before they reach the store. Required
	// unless Static is set.
	Sealer *Sealer
	// Alg is the algorithm of the keys generated. Zero means RS256.
	Alg jose.Algorithm
	// Bits is the size of generated RSA keys. Zero means 2048.
	Bits int
	// RotateEvery is how long a key signs before the next one takes over.
	// Zero means 720h (30 days).
	RotateEvery time.Duration
	// AccessTTL is the longest lifetime of the access tokens signed, which
	// keeps a retired key published until they have all expired. Zero means
	// 15m.
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
	// Static, when set, is the one signing key: its kid is its RFC 7638
	// thumbprint, nothing is stored and nothing rotates.
	Static crypto.Signer
	// Logger receives the key_rotated, key_published and key_removed audit
	// lines and the errors of Run. Nil means none.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Rand is the source of key material. Nil means crypto/rand.
	Rand io.Reader
}

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
	signer *jose.Signer // nil when no key is active
	jwks   JWKSDocument
	set    *jose.JWKS
	algs   jose.AlgorithmSet
}

// KeyManager drives the issuer's signing keys through their life: a new key
// is published (pending) at least one JWKS max-age before it becomes active,
// signs for RotateEvery, then is retired and stays published until
// remove_at = retire_at + AccessTTL + JWKSMaxAge + Leeway, when it is
// deleted. Every change is one [keyward.KeyStore.UpdateKeys] transaction, so
// among replicas sharing a store exactly one makes it; keys are generated
// before the transaction.
//
// Between checks the manager serves an in-memory snapshot: the active signer
// and the JWK Set bytes with their ETag. Its methods are safe for concurrent
// use.
type KeyManager struct {
	cfg  KeyManagerConfig
	snap atomic.Pointer[snapshot]

	mu      sync.Mutex // serialises Step and reload
	signers map[string]*jose.Signer
}

// NewKeyManager validates cfg and returns a manager. With a store, call
// [KeyManager.Step] before serving to make sure a key is active; with Static
// the manager is ready at once.
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
		return m, m.loadStatic()
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

// loadStatic builds the snapshot of a static key.
func (m *KeyManager) loadStatic() error {
	alg := m.cfg.Alg
	jwk, err := jose.NewJWK(m.cfg.Static, "")
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	if !jwk.Accepts(alg) {
		if alg, err = jose.DefaultAlgorithm(m.cfg.Static); err != nil {
			return fmt.Errorf("issuer: static key: %w", err)
		}
	}
	jwk.Algorithm = alg
	signer, err := jose.NewSigner(m.cfg.Static, alg, jwk.KeyID)
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	pub, err := jwk.Public()
	if err != nil {
		return fmt.Errorf("issuer: static key: %w", err)
	}
	return m.publish(signer, []*jose.JWK{pub})
}

// publish installs a new snapshot.
func (m *KeyManager) publish(signer *jose.Signer, keys []*jose.JWK) error {
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
	s := &snapshot{signer: signer, set: set, jwks: JWKSDocument{Body: body, ETag: etag(body), MaxAge: m.cfg.JWKSMaxAge}}
	if len(algs) > 0 {
		s.algs, _ = jose.NewAlgorithmSet(algs...)
	}
	m.snap.Store(s)
	return nil
}

// Signer returns the active signer, or [ErrNoSigningKey].
func (m *KeyManager) Signer() (*jose.Signer, error) {
	if s := m.snap.Load().signer; s != nil {
		return s, nil
	}
	return nil, ErrNoSigningKey
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

// Algorithms returns the algorithms of the published keys.
func (m *KeyManager) Algorithms() []jose.Algorithm { return m.snap.Load().algs.Algorithms() }

// Static reports whether the manager runs with one static key.
func (m *KeyManager) Static() bool { return m.cfg.Static != nil }

// Config returns the configuration with its defaults filled in.
func (m *KeyManager) Config() KeyManagerConfig { return m.cfg }

// Run checks the schedule and reloads the keys every CheckEvery until ctx
// ends. Errors are logged and retried at the next check; the manager keeps
// serving its last snapshot meanwhile.
func (m *KeyManager) Run(ctx context.Context) error {
	if m.Static() {
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

// Step applies the schedule at the manager's clock: it removes keys past
// remove_at, activates a pending key whose time has come and retires the key
// it replaces, publishes a new pending key when the active one nears its
// retirement, makes a key active when none is (the first start), and then
// reloads the snapshot from the store. Tests drive rotation by moving the
// clock and calling Step.
func (m *KeyManager) Step(ctx context.Context) error {
	if m.Static() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	keys, err := m.cfg.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("issuer: listing keys: %w", err)
	}
	if err := m.checkMasterKey(keys); err != nil {
		return err
	}
	var fresh *keyward.SigningKey
	if p := m.plan(keys, now, nil); p.needKey {
		k, err := m.newKey(nil, m.cfg.Alg, now)
		if err != nil {
			return err
		}
		fresh = &k
	}
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		p := m.plan(cur, now, fresh)
		events = p.events
		if !p.changed {
			return nil, keyward.ErrNoChange
		}
		return p.keys, nil
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
	if m.Static() {
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

// plan is the outcome of applying the schedule to a key set.
type plan struct {
	keys    []keyward.SigningKey
	changed bool
	needKey bool // a new key is needed and none was given
	events  []keyEvent
}

// removeAt is when a key retired at t leaves the JWKS.
func (m *KeyManager) removeAt(t time.Time) time.Time {
	return t.Add(m.cfg.AccessTTL + m.cfg.JWKSMaxAge + m.cfg.Leeway)
}

// plan applies the schedule to cur at now; fresh, when not nil, is a new
// key to add if one is needed. It is a pure function of its arguments, run
// inside UpdateKeys.
func (m *KeyManager) plan(cur []keyward.SigningKey, now time.Time, fresh *keyward.SigningKey) plan {
	var p plan
	keys := make([]keyward.SigningKey, 0, len(cur)+1)
	for _, k := range cur {
		if k.State == keyward.KeyRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt) {
			p.changed = true
			p.events = append(p.events, keyEvent{"key_removed", []slog.Attr{slog.String("kid", k.ID)}})
			continue
		}
		keys = append(keys, k)
	}
	retire := func(i int) {
		keys[i].State = keyward.KeyRetired
		keys[i].RetireAt = now
		keys[i].RemoveAt = m.removeAt(now)
		p.changed = true
	}
	promote := func(i int) {
		keys[i].State = keyward.KeyActive
		if keys[i].ActivateAt.IsZero() || keys[i].ActivateAt.After(now) {
			keys[i].ActivateAt = now
		}
		keys[i].RetireAt = now.Add(m.cfg.RotateEvery)
		p.changed = true
	}
	// The active key: the one activated last. Any other is retired, which
	// repairs a set left with two active keys.
	active := -1
	for i, k := range keys {
		if k.State == keyward.KeyActive && (active < 0 || !k.ActivateAt.Before(keys[active].ActivateAt)) {
			active = i
		}
	}
	for i, k := range keys {
		if k.State == keyward.KeyActive && i != active {
			retire(i)
		}
	}
	// The pending key due first.
	pending := -1
	for i, k := range keys {
		if k.State == keyward.KeyPending && (pending < 0 || k.ActivateAt.Before(keys[pending].ActivateAt)) {
			pending = i
		}
	}
	old := ""
	if active >= 0 {
		old = keys[active].ID
	}
	switch {
	case pending >= 0 && (active < 0 || !now.Before(keys[pending].ActivateAt)):
		// Its time has come, or there is no active key at all (after
		// "keys retire" of the active key): it takes over now.
		if active >= 0 {
			retire(active)
		}
		promote(pending)
		active, pending = pending, -1
		for i, k := range keys {
			if k.State == keyward.KeyPending && i != active {
				pending = i
				break
			}
		}
		p.events = append(p.events, keyEvent{"key_rotated", []slog.Attr{
			slog.String("kid", keys[active].ID), slog.String("previous_kid", old), slog.String("alg", keys[active].Algorithm)}})
	case active < 0:
		// The first key of an empty store signs at once: no verifier can
		// have cached a set without it.
		if fresh == nil {
			p.needKey = true
			break
		}
		k := *fresh
		k.State = keyward.KeyActive
		k.ActivateAt = now
		k.RetireAt = now.Add(m.cfg.RotateEvery)
		keys = append(keys, k)
		active = len(keys) - 1
		p.changed = true
		p.events = append(p.events, keyEvent{"key_rotated", []slog.Attr{
			slog.String("kid", k.ID), slog.String("previous_kid", ""), slog.String("alg", k.Algorithm)}})
		fresh = nil
	}
	if active >= 0 && pending < 0 {
		a := &keys[active]
		if a.RetireAt.IsZero() {
			a.RetireAt = a.ActivateAt.Add(m.cfg.RotateEvery)
			p.changed = true
		}
		if !now.Before(a.RetireAt.Add(-m.cfg.PrePublish)) {
			if fresh == nil {
				p.needKey = true
			} else {
				// The successor signs no earlier than PrePublish from
				// now; the active key signs until then, even past its
				// scheduled retirement (after downtime, say).
				k := *fresh
				k.State = keyward.KeyPending
				k.ActivateAt = maxTime(a.RetireAt, now.Add(m.cfg.PrePublish))
				a.RetireAt = k.ActivateAt
				keys = append(keys, k)
				p.changed = true
				p.events = append(p.events, keyEvent{"key_published", []slog.Attr{
					slog.String("kid", k.ID), slog.String("alg", k.Algorithm), slog.Time("activate_at", k.ActivateAt)}})
			}
		}
	}
	p.keys = keys
	return p
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// newKey generates (or, with key set, wraps) a private key for alg and
// returns it sealed, with its public JWK, ready to store.
func (m *KeyManager) newKey(key crypto.Signer, alg jose.Algorithm, now time.Time) (keyward.SigningKey, error) {
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
		PrivateKey: sealed,
		PublicJWK:  pubJSON,
		CreatedAt:  now,
	}, nil
}

// reloadLocked rebuilds the snapshot from the stored keys.
func (m *KeyManager) reloadLocked(ctx context.Context, now time.Time) error {
	keys, err := m.cfg.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("issuer: listing keys: %w", err)
	}
	var (
		pubs   []*jose.JWK
		active *keyward.SigningKey
	)
	for i, k := range keys {
		if k.State == keyward.KeyRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt) {
			continue // due for removal; the next step deletes it
		}
		jwk, err := jose.ParseJWK(k.PublicJWK)
		if err != nil {
			return fmt.Errorf("issuer: key %q: %w", k.ID, err)
		}
		if !jwk.IsPublic() || jwk.KeyID != k.ID {
			return fmt.Errorf("issuer: key %q: stored public JWK is not the key's public half", k.ID)
		}
		pubs = append(pubs, jwk)
		if k.State == keyward.KeyActive && (active == nil || !k.ActivateAt.Before(active.ActivateAt)) {
			active = &keys[i]
		}
	}
	var signer *jose.Signer
	if active != nil {
		if signer = m.signers[active.ID]; signer == nil {
			if signer, err = m.open(*active); err != nil {
				return err
			}
			clear(m.signers) // only the active key's signer is kept
			m.signers[active.ID] = signer
		}
	}
	return m.publish(signer, pubs)
}

// checkMasterKey makes sure the manager's master key opens the stored keys
// before it adds one, so that a wrong KEYWARD_MASTER_KEY can never leave the
// store with keys sealed under two master keys.
func (m *KeyManager) checkMasterKey(keys []keyward.SigningKey) error {
	if len(keys) == 0 {
		return nil
	}
	k := keys[len(keys)-1]
	pt, err := m.cfg.Sealer.Open(k.ID, k.PrivateKey)
	clear(pt)
	return err
}

func (m *KeyManager) checkStoredMasterKey(ctx context.Context) error {
	keys, err := m.cfg.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("issuer: listing keys: %w", err)
	}
	return m.checkMasterKey(keys)
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

// Rotate adds a new key. With immediate false it is published as pending
// and takes over after the pre-publication window, when the active key is
// retired; with immediate true it signs at once and the active key is
// retired now, so verifiers meet a kid they may not hold yet (they refetch
// on an unknown kid). It returns the new key's ID.
func (m *KeyManager) Rotate(ctx context.Context, immediate bool) (string, error) {
	return m.add(ctx, nil, m.cfg.Alg, immediate)
}

// Import adds key as a new signing key, like [KeyManager.Rotate]. Its
// algorithm is the manager's when the key suits it, else the one its type
// implies. It returns the key's ID, or an error wrapping
// [keyward.ErrConflict] when the key is already stored.
func (m *KeyManager) Import(ctx context.Context, key crypto.Signer, immediate bool) (string, error) {
	alg := m.cfg.Alg
	jwk, err := jose.NewJWK(key, "")
	if err != nil {
		return "", fmt.Errorf("issuer: %w", err)
	}
	if !jwk.Accepts(alg) {
		if alg, err = jose.DefaultAlgorithm(key); err != nil {
			return "", fmt.Errorf("issuer: %w", err)
		}
	}
	return m.add(ctx, key, alg, immediate)
}

func (m *KeyManager) add(ctx context.Context, key crypto.Signer, alg jose.Algorithm, immediate bool) (string, error) {
	if m.Static() {
		return "", ErrStaticKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if err := m.checkStoredMasterKey(ctx); err != nil {
		return "", err
	}
	k, err := m.newKey(key, alg, now)
	if err != nil {
		return "", err
	}
	var events []keyEvent
	err = m.cfg.Store.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		events = nil
		keys := slices.Clone(cur)
		old := ""
		for i := range keys {
			if keys[i].ID == k.ID {
				return nil, fmt.Errorf("issuer: key %q is already stored: %w", k.ID, keyward.ErrConflict)
			}
			if keys[i].State != keyward.KeyActive {
				continue
			}
			if immediate {
				old = keys[i].ID
				keys[i].State = keyward.KeyRetired
				keys[i].RetireAt = now
				keys[i].RemoveAt = m.removeAt(now)
			} else {
				keys[i].RetireAt = now.Add(m.cfg.PrePublish)
			}
		}
		n := k
		if immediate {
			n.State, n.ActivateAt, n.RetireAt = keyward.KeyActive, now, now.Add(m.cfg.RotateEvery)
			events = append(events, keyEvent{"key_rotated", []slog.Attr{
				slog.String("kid", n.ID), slog.String("previous_kid", old), slog.String("alg", n.Algorithm)}})
		} else {
			n.State, n.ActivateAt = keyward.KeyPending, now.Add(m.cfg.PrePublish)
			events = append(events, keyEvent{"key_published", []slog.Attr{
				slog.String("kid", n.ID), slog.String("alg", n.Algorithm), slog.Time("activate_at", n.ActivateAt)}})
		}
		return append(keys, n), nil
	})
	if err != nil {
		return "", err
	}
	m.log(ctx, events)
	return k.ID, m.reloadLocked(ctx, now)
}

// Retire retires the key kid now. When it is the active key, the pending key
// due first takes over at once, or, when there is none, a new key is
// generated and takes over. It returns an error wrapping [ErrKeyNotFound]
// for an unknown kid.
func (m *KeyManager) Retire(ctx context.Context, kid string) error {
	if m.Static() {
		return ErrStaticKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if err := m.checkStoredMasterKey(ctx); err != nil {
		return err
	}
	// A successor is generated before the transaction in case it is needed.
	fresh, err := m.newKey(nil, m.cfg.Alg, now)
	if err != nil {
		return err
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
		wasActive := keys[i].State == keyward.KeyActive
		keys[i].State = keyward.KeyRetired
		keys[i].RetireAt = now
		keys[i].RemoveAt = m.removeAt(now)
		events = []keyEvent{{"key_retired", []slog.Attr{slog.String("kid", kid)}}}
		if wasActive && !slices.ContainsFunc(keys, func(k keyward.SigningKey) bool { return k.State == keyward.KeyPending }) {
			n := fresh
			n.State, n.ActivateAt, n.RetireAt = keyward.KeyActive, now, now.Add(m.cfg.RotateEvery)
			keys = append(keys, n)
			events = append(events, keyEvent{"key_rotated", []slog.Attr{
				slog.String("kid", n.ID), slog.String("previous_kid", kid), slog.String("alg", n.Algorithm)}})
			return keys, nil
		}
		// A pending key, if any, takes over in plan.
		p := m.plan(keys, now, nil)
		events = append(events, p.events...)
		return p.keys, nil
	})
	if err != nil {
		return err
	}
	m.log(ctx, events)
	return m.reloadLocked(ctx, now)
}
