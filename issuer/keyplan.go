package issuer

import (
	"log/slog"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// keySchedule is the part of the configuration the rotation planner reads.
type keySchedule struct {
	// rotateEvery is how long a key signs before its successor takes over.
	rotateEvery time.Duration
	// prePublish is how long before it signs a new key is published; at
	// least the JWKS max-age, so that verifiers hold a key before they meet
	// a token it signed.
	prePublish time.Duration
	// removeAfter is how long a retired key stays published: the longest
	// access-token lifetime + the JWKS max-age + the verifiers' leeway.
	removeAfter time.Duration
	// alg is the algorithm of the primary keys generated.
	alg jose.Algorithm
	// staticPrimary means the primary key is static, outside the store:
	// only the RS256 ID-token keys are planned, and they are always kept.
	staticPrimary bool
}

// schedule returns the manager's schedule.
func (m *KeyManager) schedule() keySchedule {
	return keySchedule{
		rotateEvery:   m.cfg.RotateEvery,
		prePublish:    m.cfg.PrePublish,
		removeAfter:   m.cfg.AccessTTL + m.cfg.JWKSMaxAge + m.cfg.Leeway,
		alg:           m.cfg.Alg,
		staticPrimary: m.static != nil,
	}
}

// removeAt is when a key retired at t leaves the JWKS.
func (s keySchedule) removeAt(t time.Time) time.Time { return t.Add(s.removeAfter) }

// algOf is the algorithm of the keys generated for purpose.
func (s keySchedule) algOf(purpose keyward.KeyPurpose) jose.Algorithm {
	if purpose == keyward.KeyPurposeIDToken {
		return RequiredIDTokenAlgorithm
	}
	return s.alg
}

// keepsIDTokenKeys reports whether RS256 ID-token keys are needed beside
// the primary keys in keys: always with a static primary key (the manager
// keeps a store only when that key does not sign RS256); else when the
// configured algorithm is not RS256 or the active primary key is not
// (after a change of --alg, until it is rotated out).
func (s keySchedule) keepsIDTokenKeys(keys []keyward.SigningKey) bool {
	if s.staticPrimary || s.alg != RequiredIDTokenAlgorithm {
		return true
	}
	return slices.ContainsFunc(keys, func(k keyward.SigningKey) bool {
		return k.Purpose == keyward.KeyPurposePrimary && k.State == keyward.KeyActive && k.Algorithm != string(RequiredIDTokenAlgorithm)
	})
}

// keyActionKind is what a [keyAction] does.
type keyActionKind uint8

const (
	// keyRemove deletes a retired key whose remove_at has come.
	keyRemove keyActionKind = iota + 1
	// keyRetire retires a key now and schedules its removal: the key a
	// successor replaces, a second active key of a purpose, or an ID-token
	// key no longer needed.
	keyRetire
	// keyActivate makes a pending key sign now and schedules its
	// retirement one rotation period later.
	keyActivate
	// keyCreateActive adds a new key that signs at once: the first key of
	// its purpose, which no verifier can hold yet either way, or a key an
	// operator makes sign at once, replacing previous.
	keyCreateActive
	// keyCreatePending publishes a new key that signs at at, and moves the
	// retirement of the active key kid, if any, to at.
	keyCreatePending
	// keySetRetireAt schedules the retirement of the active key kid at at.
	keySetRetireAt
	// keyAddVerifyOnly publishes a key an operator imports without its
	// private half (see [verifyOnly]): stored retired from now, so that it
	// never signs, and removed at at.
	keyAddVerifyOnly
)

// verifyOnly reports whether k is a verify-only key: one stored without a
// private half ("keyward keys import --verify-only"), published only so
// that the tokens it signed elsewhere keep verifying until its remove_at.
// [keyAddVerifyOnly] stores it retired, and the planner takes no retired
// key back, so it never signs, never becomes pending and triggers no
// rotation; it is removed like any retired key once remove_at comes.
func verifyOnly(k keyward.SigningKey) bool { return len(k.PrivateKey) == 0 }

// keyAction is one step of a rotation plan.
type keyAction struct {
	kind    keyActionKind
	purpose keyward.KeyPurpose
	// kid is the key acted on; for keyCreatePending, the active key whose
	// retirement moves (empty when none); empty for keyCreateActive.
	kid string
	// previous is, for keyActivate and keyCreateActive, the key it
	// replaces (empty when none).
	previous string
	// at is the activation time of keyCreatePending, the retirement time
	// of keySetRetireAt and the removal time of keyAddVerifyOnly.
	at time.Time
	// logged is, for keyRetire, whether the retirement gets an audit line
	// of its own (key_retired); a key retired by its successor's
	// activation is named in the successor's key_rotated line instead.
	logged bool
	// reason is, for a logged keyRetire, why the key is retired.
	reason string
}

// needsKey reports whether the action adds a key, which must be generated
// before the transaction that applies the plan.
func (a keyAction) needsKey() bool {
	return a.kind == keyCreateActive || a.kind == keyCreatePending || a.kind == keyAddVerifyOnly
}

// planKeys is the rotation planner: a pure function of the schedule, the
// stored keys and the time, returning the actions that bring the keys to
// where the schedule wants them at now. In order: remove the retired keys
// whose remove_at has come; then for the primary keys (unless static), and
// for the RS256 ID-token keys when they are kept, each purpose apart:
// retire all but the last activated of several active keys, activate the
// pending key due first once its time has come (or at once when no key is
// active), retiring the key it replaces, make a first key sign at once when
// a purpose has none, fill in a missing retirement time, and publish a
// successor once the active key is within prePublish of its retirement.
// ID-token keys no longer needed are retired.
//
// Applying the plan ([applyKeyPlan]) and planning again at the same time
// gives no action, and every key it publishes signs no sooner than
// prePublish later; the property tests walk it through many rotations.
func planKeys(s keySchedule, keys []keyward.SigningKey, now time.Time) []keyAction {
	var actions []keyAction
	work := slices.Clone(keys)
	// A key the plan creates is planned on as a placeholder of the
	// purpose's algorithm, with no ID.
	placeholder := func(purpose keyward.KeyPurpose) (keyward.SigningKey, bool) {
		return keyward.SigningKey{Purpose: purpose, Algorithm: string(s.algOf(purpose))}, true
	}
	do := func(a keyAction) {
		actions = append(actions, a)
		work, _, _ = applyKeyAction(s, work, a, now, placeholder)
	}
	for _, k := range keys {
		if k.State == keyward.KeyRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt) {
			do(keyAction{kind: keyRemove, purpose: k.Purpose, kid: k.ID})
		}
	}
	if !s.staticPrimary {
		planPurpose(s, &work, keyward.KeyPurposePrimary, now, do)
	}
	if s.keepsIDTokenKeys(work) {
		planPurpose(s, &work, keyward.KeyPurposeIDToken, now, do)
	} else {
		for _, k := range slices.Clone(work) {
			if k.Purpose == keyward.KeyPurposeIDToken && k.State != keyward.KeyRetired {
				do(keyAction{kind: keyRetire, purpose: k.Purpose, kid: k.ID, logged: true, reason: "the primary key signs RS256"})
			}
		}
	}
	return actions
}

// planPurpose plans the keys of purpose in *work, calling do with each
// action, which applies it to *work.
func planPurpose(s keySchedule, work *[]keyward.SigningKey, purpose keyward.KeyPurpose, now time.Time, do func(keyAction)) {
	// index returns the position of the key of purpose in state that
	// better(k, best) prefers, or -1.
	index := func(state keyward.KeyState, better func(k, best keyward.SigningKey) bool) int {
		at := -1
		for i, k := range *work {
			if k.Purpose == purpose && k.State == state && (at < 0 || better(k, (*work)[at])) {
				at = i
			}
		}
		return at
	}
	lastActivated := func(k, best keyward.SigningKey) bool { return !k.ActivateAt.Before(best.ActivateAt) }
	dueFirst := func(k, best keyward.SigningKey) bool { return k.ActivateAt.Before(best.ActivateAt) }

	// The active key: the one activated last. Any other is retired, which
	// repairs a set left with two active keys.
	active := index(keyward.KeyActive, lastActivated)
	if active >= 0 {
		kid := (*work)[active].ID
		for _, k := range slices.Clone(*work) {
			if k.Purpose == purpose && k.State == keyward.KeyActive && k.ID != kid {
				do(keyAction{kind: keyRetire, purpose: purpose, kid: k.ID})
			}
		}
	}
	active = index(keyward.KeyActive, lastActivated)
	pending := index(keyward.KeyPending, dueFirst)
	switch {
	case pending >= 0 && (active < 0 || !now.Before((*work)[pending].ActivateAt)):
		// Its time has come, or there is no active key at all (after
		// "keys retire" of the active key): it takes over now.
		previous := ""
		if active >= 0 {
			previous = (*work)[active].ID
			do(keyAction{kind: keyRetire, purpose: purpose, kid: previous})
		}
		do(keyAction{kind: keyActivate, purpose: purpose, kid: (*work)[pending].ID, previous: previous})
	case active < 0:
		// The first key of a purpose signs at once: on an empty store no
		// verifier can have cached a set without it, and otherwise (the
		// first ID-token key of an existing issuer) verifiers refetch the
		// set on its unknown kid.
		do(keyAction{kind: keyCreateActive, purpose: purpose})
		return
	}
	active = index(keyward.KeyActive, lastActivated)
	if active < 0 || index(keyward.KeyPending, dueFirst) >= 0 {
		return
	}
	a := (*work)[active]
	if a.RetireAt.IsZero() {
		do(keyAction{kind: keySetRetireAt, purpose: purpose, kid: a.ID, at: a.ActivateAt.Add(s.rotateEvery)})
		a = (*work)[active]
	}
	if !now.Before(a.RetireAt.Add(-s.prePublish)) {
		// The successor signs no earlier than prePublish from now; the
		// active key signs until then, even past its scheduled retirement
		// (after downtime, say).
		do(keyAction{kind: keyCreatePending, purpose: purpose, kid: a.ID, at: maxTime(a.RetireAt, now.Add(s.prePublish))})
	}
}

// addPlan is the plan of adding a key of purpose at an operator's request
// ("keyward keys rotate" or "keys import"): with immediate, the active keys
// of purpose are retired and the new key signs at once; otherwise the new
// key is published and takes over after the pre-publication window, when
// the active keys' retirement is moved.
func addPlan(s keySchedule, keys []keyward.SigningKey, purpose keyward.KeyPurpose, immediate bool, now time.Time) []keyAction {
	var actions []keyAction
	previous := ""
	at := now.Add(s.prePublish)
	for _, k := range keys {
		if k.Purpose != purpose || k.State != keyward.KeyActive {
			continue
		}
		if immediate {
			previous = k.ID
			actions = append(actions, keyAction{kind: keyRetire, purpose: purpose, kid: k.ID})
		} else {
			actions = append(actions, keyAction{kind: keySetRetireAt, purpose: purpose, kid: k.ID, at: at})
		}
	}
	if immediate {
		return append(actions, keyAction{kind: keyCreateActive, purpose: purpose, previous: previous})
	}
	return append(actions, keyAction{kind: keyCreatePending, purpose: purpose, at: at})
}

// applyKeyPlan applies actions, planned at now, to keys and returns the new
// keys and the audit lines to write once they are stored. fresh holds, by
// purpose, the key to add for a create action; a create action without one
// (fresh may be nil) is skipped, and the next check plans it again. applied counts the actions
// that changed something. It does not change keys in place.
func applyKeyPlan(s keySchedule, keys []keyward.SigningKey, actions []keyAction, now time.Time, fresh map[keyward.KeyPurpose]keyward.SigningKey) (out []keyward.SigningKey, events []keyEvent, applied int) {
	out = slices.Clone(keys)
	newKey := func(purpose keyward.KeyPurpose) (keyward.SigningKey, bool) {
		k, ok := fresh[purpose]
		return k, ok
	}
	for _, a := range actions {
		var (
			e  *keyEvent
			ok bool
		)
		out, e, ok = applyKeyAction(s, out, a, now, newKey)
		if ok {
			applied++
		}
		if e != nil {
			events = append(events, *e)
		}
	}
	return out, events, applied
}

// applyKeyAction applies one action to keys, in place except for removals
// and additions, and returns the keys, the audit line, if any, and whether
// it changed anything. newKey gives the key a create action adds, or false
// to skip the action.
func applyKeyAction(s keySchedule, keys []keyward.SigningKey, a keyAction, now time.Time, newKey func(keyward.KeyPurpose) (keyward.SigningKey, bool)) ([]keyward.SigningKey, *keyEvent, bool) {
	i := -1
	if a.kid != "" {
		i = slices.IndexFunc(keys, func(k keyward.SigningKey) bool { return k.ID == a.kid })
	}
	switch a.kind {
	case keyRemove:
		if i < 0 {
			return keys, nil, false
		}
		keys = slices.Delete(keys, i, i+1)
		e := event("key_removed", a.purpose, slog.String("kid", a.kid))
		return keys, &e, true
	case keyRetire:
		if i < 0 {
			return keys, nil, false
		}
		keys[i].State, keys[i].RetireAt, keys[i].RemoveAt = keyward.KeyRetired, now, s.removeAt(now)
		if !a.logged {
			return keys, nil, true // the key_rotated line of its successor names it
		}
		attrs := []slog.Attr{slog.String("kid", a.kid)}
		if a.reason != "" {
			attrs = append(attrs, slog.String("reason", a.reason))
		}
		e := event("key_retired", a.purpose, attrs...)
		return keys, &e, true
	case keyActivate:
		if i < 0 {
			return keys, nil, false
		}
		k := &keys[i]
		k.State = keyward.KeyActive
		if k.ActivateAt.IsZero() || k.ActivateAt.After(now) {
			k.ActivateAt = now
		}
		k.RetireAt = now.Add(s.rotateEvery)
		e := event("key_rotated", a.purpose, slog.String("kid", k.ID), slog.String("previous_kid", a.previous), slog.String("alg", k.Algorithm))
		return keys, &e, true
	case keyCreateActive:
		k, ok := newKey(a.purpose)
		if !ok {
			return keys, nil, false
		}
		k.State, k.ActivateAt, k.RetireAt = keyward.KeyActive, now, now.Add(s.rotateEvery)
		keys = append(keys, k)
		e := event("key_rotated", a.purpose, slog.String("kid", k.ID), slog.String("previous_kid", a.previous), slog.String("alg", k.Algorithm))
		return keys, &e, true
	case keyCreatePending:
		k, ok := newKey(a.purpose)
		if !ok || (a.kid != "" && i < 0) {
			return keys, nil, false
		}
		k.State, k.ActivateAt = keyward.KeyPending, a.at
		if i >= 0 {
			keys[i].RetireAt = a.at
		}
		keys = append(keys, k)
		e := event("key_published", a.purpose, slog.String("kid", k.ID), slog.String("alg", k.Algorithm), slog.Time("activate_at", k.ActivateAt))
		return keys, &e, true
	case keySetRetireAt:
		if i < 0 {
			return keys, nil, false
		}
		keys[i].RetireAt = a.at
		return keys, nil, true
	case keyAddVerifyOnly:
		k, ok := newKey(a.purpose)
		if !ok {
			return keys, nil, false
		}
		k.PrivateKey = nil
		k.State, k.ActivateAt, k.RetireAt, k.RemoveAt = keyward.KeyRetired, time.Time{}, now, a.at
		keys = append(keys, k)
		e := event("key_imported", a.purpose, slog.String("kid", k.ID), slog.String("alg", k.Algorithm),
			slog.Bool("verify_only", true), slog.Time("until", a.at))
		return keys, &e, true
	}
	return keys, nil, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
