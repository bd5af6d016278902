package issuer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
)

// TestKeyLifecycle walks a dozen rotations under a moved clock, restarting
// the manager (and reopening the store) half-way, with ES256 primary keys
// and the RS256 ID-token keys kept beside them. At every step it checks,
// for each purpose, that exactly one key signs, that a key is published at
// least one JWKS max-age before it signs, that every token signed so far
// verifies until its expiry against the published set, and that a retired
// key leaves the set only after its remove_at.
func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			const (
				rotate = time.Hour
				ttl    = 10 * time.Minute
				maxAge = 2 * time.Minute
				leeway = 30 * time.Second
				tick   = time.Minute
			)
			newManager := func() *KeyManager {
				km, err := NewKeyManager(KeyManagerConfig{
					Store: b.open(t, clk.Now), Sealer: testSealer(t), Alg: jose.ES256,
					RotateEvery: rotate, AccessTTL: ttl, JWKSMaxAge: maxAge, Leeway: leeway,
					CheckEvery: tick, Now: clk.Now,
				})
				if err != nil {
					t.Fatal(err)
				}
				return km
			}
			km := newManager()
			if _, err := km.Signer(); !errors.Is(err, ErrNoSigningKey) {
				t.Fatalf("Signer before the first step: %v, want ErrNoSigningKey", err)
			}
			if _, err := km.IDTokenSigner(jose.RS256); !errors.Is(err, ErrNoSigningKey) {
				t.Fatalf("IDTokenSigner before the first step: %v, want ErrNoSigningKey", err)
			}
			type token struct {
				jws string
				exp time.Time
				kid string
			}
			purposes := []struct {
				purpose keyward.KeyPurpose
				alg     jose.Algorithm
				signer  func() (*jose.Signer, error)
			}{
				{keyward.KeyPurposePrimary, jose.ES256, func() (*jose.Signer, error) { return km.Signer() }},
				{keyward.KeyPurposeIDToken, jose.RS256, func() (*jose.Signer, error) { return km.IDTokenSigner(jose.RS256) }},
			}
			var (
				tokens    []token
				firstSeen = map[string]time.Time{}
				removeAt  = map[string]time.Time{}
				signedBy  = map[keyward.KeyPurpose][]string{}
				prevSet   []string
			)
			end := clk.Now().Add(13 * rotate)
			for step := 0; clk.Now().Before(end); step++ {
				if step == 400 {
					km = newManager() // a restart: everything must come from the store
				}
				if err := km.Step(t.Context()); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				now := clk.Now()
				stored, err := km.cfg.Store.ListKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				active := map[keyward.KeyPurpose]int{}
				for _, k := range stored {
					if k.State == keyward.KeyActive {
						active[k.Purpose]++
					}
					if k.State == keyward.KeyRetired {
						removeAt[k.ID] = k.RemoveAt
						if want := k.RetireAt.Add(ttl + maxAge + leeway); !k.RemoveAt.Equal(want) {
							t.Fatalf("key %s: remove_at %v, want retire_at + TTL + max-age + leeway = %v", k.ID, k.RemoveAt, want)
						}
					}
					if want := string(purposes[0].alg); k.Purpose == keyward.KeyPurposeIDToken {
						want = "RS256"
						if k.Algorithm != want {
							t.Fatalf("ID-token key %s has alg %s", k.ID, k.Algorithm)
						}
					} else if k.Algorithm != want {
						t.Fatalf("primary key %s has alg %s", k.ID, k.Algorithm)
					}
				}
				if active[keyward.KeyPurposePrimary] != 1 || active[keyward.KeyPurposeIDToken] != 1 || len(active) != 2 {
					t.Fatalf("step %d: active keys by purpose %v, want one of each", step, active)
				}
				set, algs := km.KeySet()
				ids := set.KeyIDs()
				if len(ids) > 6 {
					t.Fatalf("step %d: %d keys published; retired keys are not removed", step, len(ids))
				}
				for _, id := range ids {
					if _, ok := firstSeen[id]; !ok {
						firstSeen[id] = now
					}
				}
				for _, id := range prevSet {
					if !slices.Contains(ids, id) && now.Before(removeAt[id]) {
						t.Fatalf("step %d: key %s left the JWKS at %v, before its remove_at %v", step, id, now, removeAt[id])
					}
				}
				prevSet = ids
				if got := km.IDTokenAlgorithms(); !slices.Equal(got, []jose.Algorithm{jose.RS256, jose.ES256}) {
					t.Fatalf("step %d: ID-token algorithms %v", step, got)
				}
				for _, pp := range purposes {
					signer, err := pp.signer()
					if err != nil {
						t.Fatal(err)
					}
					if signer.Algorithm() != pp.alg {
						t.Fatalf("step %d: the %q signer signs %s, want %s", step, pp.purpose, signer.Algorithm(), pp.alg)
					}
					kid := signer.KeyID()
					sb := signedBy[pp.purpose]
					if len(sb) == 0 || sb[len(sb)-1] != kid {
						if len(sb) > 0 && now.Sub(firstSeen[kid]) < maxAge {
							t.Fatalf("step %d: key %s signs %v after it was published, want at least the JWKS max-age %v", step, kid, now.Sub(firstSeen[kid]), maxAge)
						}
						signedBy[pp.purpose] = append(sb, kid)
					}
					jws, err := signer.SignJWT(AccessTokenType, &jose.Claims{Subject: "u", Expiry: jose.NewNumericDate(now.Add(ttl))})
					if err != nil {
						t.Fatal(err)
					}
					tokens = append(tokens, token{jws, now.Add(ttl), kid})
				}
				policy := &jose.Policy{Now: clk.Now, Leeway: leeway}
				for _, tok := range tokens {
					if !now.Before(tok.exp.Add(leeway)) {
						continue
					}
					if _, err := jose.VerifyJWT(tok.jws, set, algs, policy); err != nil {
						t.Fatalf("step %d: token signed by %s at exp-%v no longer verifies: %v", step, tok.kid, ttl, err)
					}
				}
				clk.Add(tick)
			}
			for purpose, kids := range signedBy {
				if len(kids) < 12 {
					t.Fatalf("%d %q keys signed in 13 rotation periods: %v", len(kids), purpose, kids)
				}
			}
		})
	}
}

func TestKeyManagerOperations(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			logs := new(syncBuffer)
			km, err := NewKeyManager(KeyManagerConfig{
				Store: b.open(t, clk.Now), Sealer: testSealer(t), Alg: jose.ES256,
				RotateEvery: time.Hour, JWKSMaxAge: time.Minute, Now: clk.Now, Logger: jsonLogger(logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if err := km.Step(ctx); err != nil {
				t.Fatal(err)
			}
			first, firstID := mustSigner(t, km).KeyID(), mustIDSigner(t, km).KeyID()

			// A scheduled rotation publishes the keys of both purposes
			// first.
			pending, err := km.Rotate(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if got, gotID := mustSigner(t, km).KeyID(), mustIDSigner(t, km).KeyID(); got != first || gotID != firstID {
				t.Fatalf("after Rotate(false) %s and %s sign, want %s and %s until the pre-publication ends", got, gotID, first, firstID)
			}
			ids := jwksIDs(t, km)
			if !slices.Contains(ids, pending) || len(ids) != 4 {
				t.Fatalf("pending keys not published: %v", ids)
			}
			clk.Add(km.Config().PrePublish)
			if err := km.Step(ctx); err != nil {
				t.Fatal(err)
			}
			idPending := mustIDSigner(t, km).KeyID()
			if got := mustSigner(t, km).KeyID(); got != pending || idPending == firstID || !slices.Contains(ids, idPending) {
				t.Fatalf("after the pre-publication %s and %s sign, want %s and the pending ID-token key", got, idPending, pending)
			}

			// An immediate rotation signs at once.
			now, err := km.Rotate(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustSigner(t, km).KeyID(); got != now {
				t.Fatalf("after Rotate(true) %s signs, want %s", got, now)
			}
			idNow := mustIDSigner(t, km).KeyID()
			if idNow == idPending {
				t.Fatal("Rotate(true) left the ID-token key signing")
			}

			// Import: a pre-generated RSA key replaces the primary key
			// only.
			imported, err := km.Import(ctx, testKey(t, "rsa2048.pem"), true)
			if err != nil {
				t.Fatal(err)
			}
			if s := mustSigner(t, km); s.KeyID() != imported || s.Algorithm() != jose.RS256 {
				t.Fatalf("after Import %s/%s signs, want %s/RS256", s.KeyID(), s.Algorithm(), imported)
			}
			if got := mustIDSigner(t, km).KeyID(); got != idNow {
				t.Fatalf("Import changed the ID-token key to %s", got)
			}
			if _, err := km.Import(ctx, testKey(t, "rsa2048.pem"), false); !errors.Is(err, keyward.ErrConflict) {
				t.Fatalf("second import: %v, want ErrConflict", err)
			}

			// Retiring the active key hands over to a new one, of either
			// purpose.
			for _, kid := range []string{imported, idNow} {
				if err := km.Retire(ctx, kid); err != nil {
					t.Fatal(err)
				}
				if got, gotID := mustSigner(t, km).KeyID(), mustIDSigner(t, km).KeyID(); got == kid || gotID == kid {
					t.Fatalf("the retired key %s still signs", kid)
				}
				if ids := jwksIDs(t, km); !slices.Contains(ids, kid) {
					t.Fatal("a retired key left the JWKS at once")
				}
			}
			if s := mustSigner(t, km); s.Algorithm() != jose.ES256 {
				t.Fatalf("after retiring the imported key a %s key signs, want ES256", s.Algorithm())
			}
			if s := mustIDSigner(t, km); s.Algorithm() != jose.RS256 {
				t.Fatalf("after retiring the ID-token key a %s key signs ID tokens, want RS256", s.Algorithm())
			}
			if err := km.Retire(ctx, "no-such-kid"); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("Retire(unknown) = %v, want ErrKeyNotFound", err)
			}

			// Nothing secret in the audit lines.
			out := logs.String()
			for _, want := range []string{`"msg":"key_rotated"`, `"msg":"key_published"`, `"msg":"key_retired"`, `"purpose":"id_token"`} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %s:\n%s", want, out)
				}
			}
			if strings.Contains(out, "PRIVATE") || strings.Contains(out, `"d":`) {
				t.Fatalf("key material in the log:\n%s", out)
			}
		})
	}
}

func TestKeyManagerWrongMasterKey(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := backends(t)[0]
	store := b.open(t, clk.Now)
	km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: jose.EdDSA, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer(make([]byte, MasterKeySize), nil)
	km2, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: other, Alg: jose.EdDSA, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := km2.Reload(t.Context()); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("Reload with another master key: %v, want ErrMasterKey", err)
	}
	// Nor can it add keys sealed under another master key.
	if _, err := km2.Rotate(t.Context(), true); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("Rotate with another master key: %v, want ErrMasterKey", err)
	}
	if err := km2.Step(t.Context()); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("Step with another master key: %v, want ErrMasterKey", err)
	}
	if keys, _ := store.ListKeys(t.Context()); len(keys) != 2 { // EdDSA and the RS256 ID-token key
		t.Fatalf("%d keys stored after the refused operations", len(keys))
	}
	// The stored private key is sealed: no PKCS#8 header in the clear.
	keys, _ := store.ListKeys(t.Context())
	for _, k := range keys {
		if strings.Contains(string(k.PrivateKey), "\x06\x03\x2b\x65\x70") { // OID 1.3.101.112 (Ed25519)
			t.Fatal("the stored private key is not encrypted")
		}
	}
}

func TestKeyManagerStatic(t *testing.T) {
	t.Parallel()
	key := testKey(t, "p256.pem")
	km, err := NewKeyManager(KeyManagerConfig{Static: key})
	if err != nil {
		t.Fatal(err)
	}
	s := mustSigner(t, km)
	want, _ := jose.Thumbprint(key)
	if s.KeyID() != want || s.Algorithm() != jose.ES256 {
		t.Fatalf("static signer %s/%s, want %s/ES256 (the key's type wins over the RS256 default)", s.KeyID(), s.Algorithm(), want)
	}
	if _, err := km.Rotate(t.Context(), true); !errors.Is(err, ErrStaticKey) {
		t.Fatalf("Rotate on a static key: %v", err)
	}
	if ids := jwksIDs(t, km); len(ids) != 1 || ids[0] != want {
		t.Fatalf("JWKS %v", ids)
	}
	if strings.Contains(string(km.JWKS().Body), `"d"`) {
		t.Fatal("private member in the JWKS")
	}
}

func TestKeyManagerConfig(t *testing.T) {
	t.Parallel()
	store := backends(t)[0].open(t, nil)
	tests := []struct {
		name string
		cfg  KeyManagerConfig
	}{
		{"no store", KeyManagerConfig{Sealer: testSealer(t)}},
		{"no sealer", KeyManagerConfig{Store: store}},
		{"symmetric", KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: jose.HS256}},
		{"none", KeyManagerConfig{Store: store, Sealer: testSealer(t), Alg: "none"}},
		{"negative", KeyManagerConfig{Store: store, Sealer: testSealer(t), Leeway: -1}},
		{"pre-publication under max-age", KeyManagerConfig{Store: store, Sealer: testSealer(t), JWKSMaxAge: time.Minute, PrePublish: time.Second}},
		{"pre-publication over rotation", KeyManagerConfig{Store: store, Sealer: testSealer(t), RotateEvery: time.Hour, PrePublish: 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewKeyManager(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), RotateEvery: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c := km.Config(); c.JWKSMaxAge != time.Second || c.CheckEvery != 500*time.Millisecond || c.PrePublish < c.JWKSMaxAge || c.PrePublish >= c.RotateEvery {
		t.Fatalf("a short rotation period gives max-age %v, check %v, pre-publication %v", c.JWKSMaxAge, c.CheckEvery, c.PrePublish)
	}
}

func mustIDSigner(tb testing.TB, km *KeyManager) *jose.Signer {
	tb.Helper()
	s, err := km.IDTokenSigner(jose.RS256)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustSigner(tb testing.TB, km *KeyManager) *jose.Signer {
	tb.Helper()
	s, err := km.Signer()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func jwksIDs(tb testing.TB, km *KeyManager) []string {
	tb.Helper()
	set, err := jose.ParseJWKS(km.JWKS().Body)
	if err != nil {
		tb.Fatal(err)
	}
	return set.KeyIDs()
}

// flakyKeyStore fails ListKeys while down is set.
type flakyKeyStore struct {
	keyward.Store
	down atomic.Bool
}

func (s *flakyKeyStore) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	if s.down.Load() {
		return nil, errors.New("database unreachable")
	}
	return s.Store.ListKeys(ctx)
}

// TestKeyManagerKeys checks the in-memory view of the stored keys that the
// metrics read: the keys of the last check without their private halves,
// and the error of that check while the store is out of reach.
func TestKeyManagerKeys(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := &flakyKeyStore{Store: memory.New(memory.Config{Now: clk.Now})}
	km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := km.Keys(); len(keys) != 0 || err != nil {
		t.Fatalf("Keys before the first step: %v, %v", keys, err)
	}
	kid, err := km.Import(t.Context(), testKey(t, "rsa2048.pem"), true)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := km.Keys()
	if err != nil || len(keys) != 1 || keys[0].ID != kid || keys[0].State != keyward.KeyActive || keys[0].PrivateKey != nil {
		t.Fatalf("Keys = %+v, %v; want the active imported key without its private half", keys, err)
	}
	stored, err := store.Store.ListKeys(t.Context())
	if err != nil || len(stored) != 1 || len(stored[0].PrivateKey) == 0 {
		t.Fatalf("Keys cleared the stored private key: %+v, %v", stored, err)
	}
	store.down.Store(true)
	if err := km.Step(t.Context()); err == nil {
		t.Fatal("Step with the store down succeeded")
	}
	if keys, err := km.Keys(); err == nil || len(keys) != 1 {
		t.Fatalf("Keys with the store down: %v, %v; want the last keys and an error", keys, err)
	}
	store.down.Store(false)
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if keys, err := km.Keys(); err != nil || len(keys) != 1 {
		t.Fatalf("Keys after recovery: %v, %v", keys, err)
	}
}

// TestKeyManagerRun runs the check loop on the bubble's fake clock: a
// check that fails is logged as key_check_failed and Run goes on, the next
// check recovers, the schedule is applied (a successor published before
// the active key's retirement), and Run returns nil, only once its context
// ends. With a static key alone, Run just waits for its context.
func TestKeyManagerRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &flakyKeyStore{Store: memory.New(memory.Config{})}
		var logs syncBuffer
		km, err := NewKeyManager(KeyManagerConfig{Store: store, Sealer: testSealer(t), RotateEvery: time.Hour,
			Logger: jsonLogger(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := km.Import(t.Context(), testKey(t, "rsa2048.pem"), true); err != nil {
			t.Fatal(err)
		}
		check := km.Config().CheckEvery
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- km.Run(ctx) }()

		store.down.Store(true)
		time.Sleep(check)
		synctest.Wait()
		if _, err := km.Keys(); err == nil || !strings.Contains(logs.String(), `"msg":"key_check_failed"`) {
			t.Fatalf("a failed check: Keys error %v, log %s", err, logs.String())
		}
		store.down.Store(false)
		time.Sleep(check)
		synctest.Wait()
		if _, err := km.Keys(); err != nil {
			t.Fatalf("the next check did not recover: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before its context ended: %v", err)
		default:
		}
		// The successor is published pre-publish before the retirement.
		time.Sleep(time.Hour - km.Config().PrePublish)
		synctest.Wait()
		keys, err := km.Keys()
		if err != nil || len(keys) != 2 || keys[1].State != keyward.KeyPending {
			t.Fatalf("keys near the retirement: %+v, %v; want the active key and a pending one", keys, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	})
	t.Run("static", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			km, err := NewKeyManager(KeyManagerConfig{Static: testKey(t, "rsa2048.pem")})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- km.Run(ctx) }()
			time.Sleep(24 * time.Hour)
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("Run returned before its context ended: %v", err)
			default:
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel: %v, want nil", err)
			}
		})
	})
}

// TestKeyManagerImportVerifyOnly imports the key another signer used as
// verify-only: it is published at once, never signs, leaves the active key
// and the schedule alone, stores no private half, and leaves the JWK Set at
// until; a key rotation afterwards still checks the master key.
func TestKeyManagerImportVerifyOnly(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			logs := new(syncBuffer)
			store := b.open(t, clk.Now)
			km, err := NewKeyManager(KeyManagerConfig{
				Store: store, Sealer: testSealer(t), Alg: jose.ES256,
				RotateEvery: time.Hour, JWKSMaxAge: time.Minute, AccessTTL: time.Minute, Now: clk.Now, Logger: jsonLogger(logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if err := km.Step(ctx); err != nil {
				t.Fatal(err)
			}
			signer := mustSigner(t, km).KeyID()
			before := len(jwksIDs(t, km))

			clk.Add(time.Minute) // the imported key is the newest stored
			until := clk.Now().Add(150 * time.Minute)
			old := testKey(t, "rsa2048.pem")
			kid, err := km.ImportVerifyOnly(ctx, old.Public(), "", until)
			if err != nil {
				t.Fatal(err)
			}
			if ids := jwksIDs(t, km); !slices.Contains(ids, kid) || len(ids) != before+1 {
				t.Fatalf("after the import the JWKS holds %v, want the %d keys before and %s", ids, before, kid)
			}
			if got := mustSigner(t, km).KeyID(); got != signer {
				t.Fatalf("after the import %s signs, want %s", got, signer)
			}
			stored, err := store.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range stored {
				if k.ID == kid && (len(k.PrivateKey) != 0 || k.State != keyward.KeyRetired || !k.RemoveAt.Equal(until)) {
					t.Fatalf("verify-only key stored as %+v", k)
				}
				if k.ID != kid && k.State == keyward.KeyPending {
					t.Fatalf("the import published a successor %s", k.ID)
				}
			}
			if _, err := km.ImportVerifyOnly(ctx, old, "", until); !errors.Is(err, keyward.ErrConflict) {
				t.Fatalf("second import (private key): %v, want ErrConflict", err)
			}
			if _, err := km.ImportVerifyOnly(ctx, testKey(t, "p256.pem"), "", clk.Now()); err == nil {
				t.Fatal("import until now accepted")
			}
			if _, err := km.ImportVerifyOnly(ctx, testKey(t, "p256.pem"), "bad\nkid", until); err == nil {
				t.Fatal("a key ID with a control character accepted")
			}
			// The kid the other signer wrote in its tokens.
			if got, err := km.ImportVerifyOnly(ctx, testKey(t, "ed25519.pem"), "legacy-2024", until); err != nil || got != "legacy-2024" {
				t.Fatalf("import with a kid: %q, %v", got, err)
			}
			if ids := jwksIDs(t, km); !slices.Contains(ids, "legacy-2024") {
				t.Fatalf("the JWKS holds %v, not legacy-2024", ids)
			}
			if _, err := km.ImportVerifyOnly(ctx, testKey(t, "p256.pem"), "legacy-2024", until); !errors.Is(err, keyward.ErrConflict) {
				t.Fatalf("a second key under the same kid: %v, want ErrConflict", err)
			}
			// The master key check skips the key with no sealed half.
			if _, err := km.Rotate(ctx, true); err != nil {
				t.Fatalf("rotating after a verify-only import: %v", err)
			}

			// Through several rotations, it never signs; it leaves at until.
			for clk.Now().Before(until.Add(time.Hour)) {
				clk.Add(7 * time.Minute)
				if err := km.Step(ctx); err != nil {
					t.Fatal(err)
				}
				if got := mustSigner(t, km).KeyID(); got == kid {
					t.Fatalf("the verify-only key signs at %s", clk.Now())
				}
				if in := slices.Contains(jwksIDs(t, km), kid); in != clk.Now().Before(until) {
					t.Fatalf("at %s (until %s) the verify-only key is published: %t", clk.Now(), until, in)
				}
			}

			out := logs.String()
			if !strings.Contains(out, `"msg":"key_imported"`) || !strings.Contains(out, `"verify_only":true`) || !strings.Contains(out, `"until":`) {
				t.Fatalf("no key_imported audit line:\n%s", out)
			}
		})
	}
}
