package issuer

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// randomSchedule draws a schedule as NewKeyManager could build it: a
// rotation period from a minute to about three months, a JWKS max-age of
// at most a quarter of it, a pre-publication window from the max-age to
// under the period, an access-token lifetime from a second to two days.
func randomSchedule(r *rand.Rand) (keySchedule, time.Duration) {
	rotate := time.Minute << r.IntN(18)
	rotate += time.Duration(r.Int64N(int64(rotate)))
	maxAge := time.Second + time.Duration(r.Int64N(int64(rotate/4)))
	prePublish := maxAge + time.Duration(r.Int64N(int64(rotate-maxAge)))
	accessTTL := time.Second + time.Duration(r.Int64N(int64(48*time.Hour)))
	leeway := time.Duration(r.Int64N(int64(2 * time.Minute)))
	algs := []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256}
	return keySchedule{
		rotateEvery:   rotate,
		prePublish:    prePublish,
		removeAfter:   accessTTL + maxAge + leeway,
		alg:           algs[r.IntN(len(algs))],
		staticPrimary: r.IntN(5) == 0,
	}, maxAge
}

// keyHistory is what a walk has seen of one key.
type keyHistory struct {
	purpose       keyward.KeyPurpose
	published     time.Time // the step that added it
	activated     time.Time // the first step that saw it active
	retired       time.Time // the first step that saw it retired
	wasFirst      bool      // it was the first key of its purpose to sign
	scheduledFrom time.Time // its ActivateAt while pending
	state         keyward.KeyState
}

// walkKeyPlan walks the planner through at least ten rotations of each
// planned purpose under a clock moved by random steps, with random
// downtimes (restarts after minutes to several rotation periods), and
// checks the invariants of the key lifecycle after every step. It returns
// a description of the first broken invariant, or "".
func walkKeyPlan(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s, maxAge := randomSchedule(r)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
	check := maxAge/2 + time.Millisecond // the manager's CheckEvery is well under the max-age
	purposes := []keyward.KeyPurpose{keyward.KeyPurposeIDToken}
	if !s.staticPrimary {
		purposes = append(purposes, keyward.KeyPurposePrimary)
	}
	where := func(step int, format string, args ...any) string {
		return fmt.Sprintf("seed %d, step %d, %+v, max-age %s, at %s: %s", seed, step, s, maxAge, now.Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	}

	var (
		keys      []keyward.SigningKey
		seen      = map[string]*keyHistory{}
		rotations = map[keyward.KeyPurpose]int{}
		nextID    int
	)
	for step := 0; step < 20000; step++ {
		if step > 0 {
			switch edges := transitions(s, keys, now); {
			case r.IntN(40) == 0:
				// A restart after downtime.
				now = now.Add(time.Minute + time.Duration(r.Int64N(int64(3*s.rotateEvery))))
			case len(edges) > 0 && r.IntN(3) == 0:
				// Just before or at a scheduled transition, where an
				// early or late step shows.
				now = edges[r.IntN(len(edges))].Add(-time.Duration(r.IntN(2)))
			default:
				now = now.Add(time.Millisecond + time.Duration(r.Int64N(int64(2*check))))
			}
		}
		plan := planKeys(s, keys, now)
		fresh := map[keyward.KeyPurpose]keyward.SigningKey{}
		for _, a := range plan {
			if a.needsKey() {
				nextID++
				fresh[a.purpose] = keyward.SigningKey{ID: fmt.Sprintf("k%d", nextID), Purpose: a.purpose,
					Algorithm: string(s.algOf(a.purpose)), CreatedAt: now}
			}
		}
		before := slices.Clone(keys)
		next, _, applied := applyKeyPlan(s, keys, plan, now, fresh)
		if applied != len(plan) {
			return where(step, "%d of %d actions applied with every key supplied", applied, len(plan))
		}
		if again := planKeys(s, next, now); len(again) != 0 {
			return where(step, "planning again on the plan's result gives %+v", again)
		}
		if !reflect.DeepEqual(before, keys) {
			return where(step, "applying changed its input")
		}

		// Keys that left.
		for id, h := range seen {
			if h.state == "" || slices.ContainsFunc(next, func(k keyward.SigningKey) bool { return k.ID == id }) {
				continue
			}
			if h.state != keyward.KeyRetired {
				return where(step, "key %s removed while %s", id, h.state)
			}
			if due := h.retired.Add(s.removeAfter); now.Before(due) {
				return where(step, "key %s retired at %s removed before %s", id, h.retired, due)
			}
			h.state = ""
		}
		// Keys that came or moved on.
		for _, k := range next {
			h := seen[k.ID]
			if h == nil {
				if k.State == keyward.KeyRetired {
					return where(step, "key %s added retired", k.ID)
				}
				h = &keyHistory{purpose: k.Purpose, published: now}
				seen[k.ID] = h
			}
			if h.state == keyward.KeyRetired && k.State != keyward.KeyRetired ||
				h.state == keyward.KeyActive && k.State == keyward.KeyPending {
				return where(step, "key %s went back from %s to %s", k.ID, h.state, k.State)
			}
			switch k.State {
			case keyward.KeyPending:
				if k.ActivateAt.Before(h.published.Add(s.prePublish)) {
					return where(step, "key %s published at %s is due to sign at %s, within the pre-publication window", k.ID, h.published, k.ActivateAt)
				}
				h.scheduledFrom = k.ActivateAt
			case keyward.KeyActive:
				if h.state != keyward.KeyActive {
					h.activated = now
					h.wasFirst = rotations[k.Purpose] == 0
					rotations[k.Purpose]++
					if !h.wasFirst {
						if now.Sub(h.published) < maxAge {
							return where(step, "key %s signs %s after it was published, under the JWKS max-age", k.ID, now.Sub(h.published))
						}
						if now.Before(h.scheduledFrom) {
							return where(step, "key %s signs before its activate_at %s", k.ID, h.scheduledFrom)
						}
					}
				}
				if k.RetireAt.IsZero() {
					return where(step, "active key %s has no retire_at", k.ID)
				}
			case keyward.KeyRetired:
				if h.state != keyward.KeyRetired {
					h.retired = now
					if !k.RetireAt.Equal(now) {
						return where(step, "key %s retired at step time %s records retire_at %s", k.ID, now, k.RetireAt)
					}
				}
				if !k.RemoveAt.Equal(k.RetireAt.Add(s.removeAfter)) {
					return where(step, "key %s: remove_at %s, want retire_at %s + %s", k.ID, k.RemoveAt, k.RetireAt, s.removeAfter)
				}
				if !now.Before(k.RemoveAt) {
					return where(step, "key %s past its remove_at %s still published", k.ID, k.RemoveAt)
				}
			}
			h.state = k.State
		}
		// Exactly one active key of each planned purpose, its successor
		// published in time, and nothing else signing.
		for _, p := range purposes {
			if p == keyward.KeyPurposeIDToken && !s.keepsIDTokenKeys(next) {
				continue
			}
			var active, pending []keyward.SigningKey
			for _, k := range next {
				if k.Purpose == p && k.State == keyward.KeyActive {
					active = append(active, k)
				}
				if k.Purpose == p && k.State == keyward.KeyPending {
					pending = append(pending, k)
				}
			}
			if len(active) != 1 {
				return where(step, "%d active keys of purpose %q", len(active), p)
			}
			if a := active[0]; !now.Before(a.RetireAt.Add(-s.prePublish)) && len(pending) == 0 {
				return where(step, "active key %s retires at %s with no successor published", a.ID, a.RetireAt)
			}
		}
		if s.staticPrimary && slices.ContainsFunc(next, func(k keyward.SigningKey) bool { return k.Purpose == keyward.KeyPurposePrimary }) {
			return where(step, "a primary key beside a static one")
		}
		if !s.keepsIDTokenKeys(next) && slices.ContainsFunc(next, func(k keyward.SigningKey) bool {
			return k.Purpose == keyward.KeyPurposeIDToken && k.State != keyward.KeyRetired
		}) {
			return where(step, "an ID-token key signs or waits while none is needed")
		}
		keys = next
		done := true
		for _, p := range purposes {
			if p == keyward.KeyPurposeIDToken && !s.keepsIDTokenKeys(keys) {
				continue
			}
			done = done && rotations[p] >= 11
		}
		if done {
			return ""
		}
	}
	return fmt.Sprintf("seed %d: fewer than ten rotations in 20000 steps: %v", seed, rotations)
}

// transitions returns the scheduled times after now at which the plan of
// keys changes: activations, removals, and the start of each active key's
// pre-publication window.
func transitions(s keySchedule, keys []keyward.SigningKey, now time.Time) []time.Time {
	var out []time.Time
	for _, k := range keys {
		for _, t := range []time.Time{k.ActivateAt, k.RemoveAt, k.RetireAt.Add(-s.prePublish)} {
			if t.After(now.Add(time.Nanosecond)) {
				out = append(out, t)
			}
		}
	}
	return out
}

// TestKeyPlanProperties walks the planner through random schedules.
func TestKeyPlanProperties(t *testing.T) {
	t.Parallel()
	walks := 300
	if testing.Short() {
		walks = 30
	}
	for seed := range uint64(walks) {
		if msg := walkKeyPlan(seed); msg != "" {
			t.Fatal(msg)
		}
	}
}

// FuzzKeyPlan walks the planner from fuzzed seeds.
func FuzzKeyPlan(f *testing.F) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40, 0xdeadbeef} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		if msg := walkKeyPlan(seed); msg != "" {
			t.Fatal(msg)
		}
	})
}

// TestKeyPlanActions checks the plan of chosen key sets, action by action.
func TestKeyPlanActions(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := keySchedule{rotateEvery: time.Hour, prePublish: 10 * time.Minute, removeAfter: 20 * time.Minute, alg: jose.RS256}
	es := s
	es.alg = jose.ES256
	key := func(id string, purpose keyward.KeyPurpose, state keyward.KeyState, alg jose.Algorithm, activate, retire, remove time.Duration) keyward.SigningKey {
		k := keyward.SigningKey{ID: id, Purpose: purpose, State: state, Algorithm: string(alg)}
		for _, f := range []struct {
			at *time.Time
			d  time.Duration
		}{{&k.ActivateAt, activate}, {&k.RetireAt, retire}, {&k.RemoveAt, remove}} {
			if f.d != 0 {
				*f.at = now.Add(f.d)
			}
		}
		return k
	}
	const P, I = keyward.KeyPurposePrimary, keyward.KeyPurposeIDToken
	tests := []struct {
		name  string
		sched keySchedule
		keys  []keyward.SigningKey
		want  []keyAction
	}{
		{name: "empty store", sched: s, want: []keyAction{{kind: keyCreateActive, purpose: P}}},
		{name: "empty store, ES256", sched: es, want: []keyAction{{kind: keyCreateActive, purpose: P}, {kind: keyCreateActive, purpose: I}}},
		{name: "steady", sched: s, keys: []keyward.SigningKey{key("a", P, keyward.KeyActive, jose.RS256, -time.Minute, 30*time.Minute, 0)}},
		{
			name: "successor due", sched: s,
			keys: []keyward.SigningKey{key("a", P, keyward.KeyActive, jose.RS256, -time.Hour, 10*time.Minute, 0)},
			want: []keyAction{{kind: keyCreatePending, purpose: P, kid: "a", at: now.Add(10 * time.Minute)}},
		},
		{
			name: "successor after downtime", sched: s,
			keys: []keyward.SigningKey{key("a", P, keyward.KeyActive, jose.RS256, -3*time.Hour, -2*time.Hour, 0)},
			want: []keyAction{{kind: keyCreatePending, purpose: P, kid: "a", at: now.Add(10 * time.Minute)}},
		},
		{
			name: "rotation", sched: s,
			keys: []keyward.SigningKey{
				key("a", P, keyward.KeyActive, jose.RS256, -time.Hour, 0, 0),
				key("b", P, keyward.KeyPending, jose.RS256, 0, 0, 0),
			},
			want: []keyAction{{kind: keyRetire, purpose: P, kid: "a"}, {kind: keyActivate, purpose: P, kid: "b", previous: "a"}},
		},
		{
			name: "removal and a missing retire_at", sched: s,
			keys: []keyward.SigningKey{
				key("old", P, keyward.KeyRetired, jose.RS256, -3*time.Hour, -2*time.Hour, 0),
				key("a", P, keyward.KeyActive, jose.RS256, -time.Minute, 0, 0),
			},
			want: []keyAction{{kind: keySetRetireAt, purpose: P, kid: "a", at: now.Add(59 * time.Minute)}},
		},
		{
			name: "removal due", sched: s,
			keys: []keyward.SigningKey{
				key("old", P, keyward.KeyRetired, jose.RS256, -3*time.Hour, -2*time.Hour, -time.Second),
				key("a", P, keyward.KeyActive, jose.RS256, -time.Minute, 30*time.Minute, 0),
			},
			want: []keyAction{{kind: keyRemove, purpose: P, kid: "old"}},
		},
		{
			name: "two active keys", sched: s,
			keys: []keyward.SigningKey{
				key("a", P, keyward.KeyActive, jose.RS256, -2*time.Minute, 30*time.Minute, 0),
				key("b", P, keyward.KeyActive, jose.RS256, -time.Minute, 30*time.Minute, 0),
			},
			want: []keyAction{{kind: keyRetire, purpose: P, kid: "a"}},
		},
		{
			name: "ID-token key no longer needed", sched: s,
			keys: []keyward.SigningKey{
				key("a", P, keyward.KeyActive, jose.RS256, -time.Minute, 30*time.Minute, 0),
				key("i", I, keyward.KeyActive, jose.RS256, -time.Minute, 30*time.Minute, 0),
			},
			want: []keyAction{{kind: keyRetire, purpose: I, kid: "i", logged: true, reason: "the primary key signs RS256"}},
		},
		{
			name: "static primary", sched: keySchedule{rotateEvery: time.Hour, prePublish: 10 * time.Minute, removeAfter: time.Minute, alg: jose.ES256, staticPrimary: true},
			want: []keyAction{{kind: keyCreateActive, purpose: I}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := planKeys(tt.sched, tt.keys, now)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tt.want)
			}
			// Without the keys to add, applying skips the create actions
			// and changes nothing else they would have.
			next, _, applied := applyKeyPlan(tt.sched, tt.keys, got, now, nil)
			creates := 0
			for _, a := range got {
				if a.needsKey() {
					creates++
				}
			}
			if applied != len(got)-creates || len(next) != len(tt.keys)-countKind(got, keyRemove) {
				t.Errorf("applied %d of %d actions, %d keys after", applied, len(got), len(next))
			}
		})
	}
}

func countKind(actions []keyAction, kind keyActionKind) int {
	n := 0
	for _, a := range actions {
		if a.kind == kind {
			n++
		}
	}
	return n
}

// TestKeyAddPlan checks the plans of "keys rotate" and "keys import".
func TestKeyAddPlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := keySchedule{rotateEvery: time.Hour, prePublish: 10 * time.Minute, removeAfter: 20 * time.Minute, alg: jose.RS256}
	const P = keyward.KeyPurposePrimary
	active := []keyward.SigningKey{{ID: "a", Purpose: P, State: keyward.KeyActive, Algorithm: "RS256", ActivateAt: now.Add(-time.Minute), RetireAt: now.Add(time.Hour)}}
	fresh := map[keyward.KeyPurpose]keyward.SigningKey{P: {ID: "n", Purpose: P, Algorithm: "RS256"}}
	tests := []struct {
		name      string
		keys      []keyward.SigningKey
		immediate bool
		want      []keyAction
		wantState map[string]keyward.KeyState
		wantEvent string
	}{
		{
			name: "immediate", keys: active, immediate: true,
			want:      []keyAction{{kind: keyRetire, purpose: P, kid: "a"}, {kind: keyCreateActive, purpose: P, previous: "a"}},
			wantState: map[string]keyward.KeyState{"a": keyward.KeyRetired, "n": keyward.KeyActive},
			wantEvent: "key_rotated [kid=n previous_kid=a alg=RS256]",
		},
		{
			name: "pre-published", keys: active,
			want:      []keyAction{{kind: keySetRetireAt, purpose: P, kid: "a", at: now.Add(10 * time.Minute)}, {kind: keyCreatePending, purpose: P, at: now.Add(10 * time.Minute)}},
			wantState: map[string]keyward.KeyState{"a": keyward.KeyActive, "n": keyward.KeyPending},
			wantEvent: "key_published [kid=n alg=RS256 activate_at=" + now.Add(10*time.Minute).String() + "]",
		},
		{
			name:      "pre-published on an empty store",
			want:      []keyAction{{kind: keyCreatePending, purpose: P, at: now.Add(10 * time.Minute)}},
			wantState: map[string]keyward.KeyState{"n": keyward.KeyPending},
			wantEvent: "key_published [kid=n alg=RS256 activate_at=" + now.Add(10*time.Minute).String() + "]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := addPlan(s, tt.keys, P, tt.immediate, now)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, tt.want)
			}
			next, events, _ := applyKeyPlan(s, tt.keys, got, now, fresh)
			state := map[string]keyward.KeyState{}
			for _, k := range next {
				state[k.ID] = k.State
			}
			if fmt.Sprint(state) != fmt.Sprint(tt.wantState) {
				t.Errorf("states %v, want %v", state, tt.wantState)
			}
			if len(events) != 1 || fmt.Sprint(events[0].msg, " ", events[0].attrs) != tt.wantEvent {
				t.Errorf("events %v, want %s", events, tt.wantEvent)
			}
		})
	}
}

// TestKeyPlanVerifyOnly walks the planner through rotations with a
// verify-only key beside the signing keys: whatever the clock, it is never
// pending or active and never the key a rotation replaces, and it leaves
// the set at its remove_at, not at the schedule's.
func TestKeyPlanVerifyOnly(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, ^seed))
		s, _ := randomSchedule(r)
		s.staticPrimary = false
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		until := now.Add(time.Duration(1 + r.Int64N(int64(5*s.rotateEvery))))
		nextID := 0
		fresh := func(keys []keyward.SigningKey, plan []keyAction) map[keyward.KeyPurpose]keyward.SigningKey {
			out := map[keyward.KeyPurpose]keyward.SigningKey{}
			for _, a := range plan {
				if a.needsKey() {
					nextID++
					out[a.purpose] = keyward.SigningKey{ID: fmt.Sprintf("k%d", nextID), Purpose: a.purpose,
						Algorithm: string(s.algOf(a.purpose)), PrivateKey: []byte("sealed"), CreatedAt: now}
				}
			}
			return out
		}
		keys, _, _ := applyKeyPlan(s, nil, planKeys(s, nil, now), now, fresh(nil, planKeys(s, nil, now)))
		old := keyward.SigningKey{ID: "old", Purpose: keyward.KeyPurposePrimary, Algorithm: "RS256", PublicJWK: []byte("{}"), PrivateKey: []byte("dropped")}
		add := []keyAction{{kind: keyAddVerifyOnly, purpose: keyward.KeyPurposePrimary, at: until}}
		keys, events, applied := applyKeyPlan(s, keys, add, now, map[keyward.KeyPurpose]keyward.SigningKey{keyward.KeyPurposePrimary: old})
		if applied != 1 || len(events) != 1 || events[0].msg != "key_imported" {
			t.Fatalf("seed %d: adding the verify-only key: applied %d, events %+v", seed, applied, events)
		}
		i := slices.IndexFunc(keys, func(k keyward.SigningKey) bool { return k.ID == "old" })
		if k := keys[i]; !verifyOnly(k) || k.State != keyward.KeyRetired || !k.RemoveAt.Equal(until) || !k.ActivateAt.IsZero() {
			t.Fatalf("seed %d: verify-only key stored as %+v, want retired, no private half, remove_at %s", seed, k, until)
		}
		if again := planKeys(s, keys, now); len(again) != 0 {
			t.Fatalf("seed %d: the verify-only key triggers %+v", seed, again)
		}
		end := until.Add(3 * s.rotateEvery)
		for step := 0; now.Before(end) && step < 5000; step++ {
			now = now.Add(time.Duration(1 + r.Int64N(int64(s.rotateEvery/3))))
			plan := planKeys(s, keys, now)
			for _, a := range plan {
				if a.kid == "old" && a.kind != keyRemove || a.previous == "old" {
					t.Fatalf("seed %d at %s: action %+v on the verify-only key", seed, now, a)
				}
			}
			keys, _, _ = applyKeyPlan(s, keys, plan, now, fresh(keys, plan))
			i := slices.IndexFunc(keys, func(k keyward.SigningKey) bool { return k.ID == "old" })
			switch {
			case now.Before(until) && i < 0:
				t.Fatalf("seed %d: verify-only key removed at %s, before %s", seed, now, until)
			case !now.Before(until) && i >= 0:
				t.Fatalf("seed %d: verify-only key still published at %s, after %s", seed, now, until)
			case i >= 0 && keys[i].State != keyward.KeyRetired:
				t.Fatalf("seed %d: verify-only key %s at %s", seed, keys[i].State, now)
			}
		}
		if !now.After(until) {
			t.Fatalf("seed %d: the walk stopped at %s, before %s", seed, now, until)
		}
	}
}
