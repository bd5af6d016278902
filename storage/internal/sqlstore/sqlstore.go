// Package sqlstore holds what the SQL backends (storage/sqlite and
// storage/postgres) share below the domain: the column lists of their
// common schema, the JSON encoding of list and map columns, the plan that
// turns a key-set update into the rows to delete and to write, and the
// wrapping of a driver's error with keyward.ErrUnavailable. The
// domain rules themselves (what a valid key set is, how a refresh token's
// successor inherits its family, ...) live in package keyward, which every
// backend calls.
//
// It imports only package keyward and the standard library: never a SQL
// driver, never another backend, never the issuer.
package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// The columns of each table, in the order the backends scan and insert them.
const (
	UserColumns    = `id, username, password_hash, roles, attributes, disabled, created_at, updated_at, require_mfa`
	ClientColumns  = `id, name, secret_hash, public, redirect_uris, grant_types, scopes, audience, jwks_url, jwks, id_token_signed_response_alg, created_at, post_logout_redirect_uris`
	KeyColumns     = `id, algorithm, purpose, state, private_key, public_jwk, created_at, activate_at, retire_at, remove_at`
	RefreshColumns = `hash, family_id, user_id, client_id, scope, audience, session_id, issued_at, expires_at, used_at, revoked_at`
	CodeColumns    = `hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method, session_id, auth_time, expires_at, used_at, amr, acr`
	SessionColumns = `id, cookie_hash, user_id, created_at, auth_time, expires_at, revoked_at, amr, acr, last_used_at, device`
)

// JSON scans a JSON column (text in SQLite, jsonb in PostgreSQL) into the
// value Dst points to. NULL leaves it untouched; empty slices and maps come
// back nil, as the stores give them.
type JSON struct{ Dst any }

// Scan implements [database/sql.Scanner], which pgx uses for jsonb too.
func (j JSON) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("json column holds %T", v)
	}
	if err := json.Unmarshal(b, j.Dst); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	switch d := j.Dst.(type) {
	case *[]string:
		if len(*d) == 0 {
			*d = nil
		}
	case *map[string]any:
		if len(*d) == 0 {
			*d = nil
		}
	}
	return nil
}

// EncodeJSON encodes v for a JSON column. A value that cannot be encoded
// (an attribute holding a channel, ...) gives an error wrapping
// [keyward.ErrInvalid].
func EncodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w: %v", keyward.ErrInvalid, err)
	}
	return string(b), nil
}

// Strings returns v, or an empty slice when v is nil, so that a JSON array
// column never holds null.
func Strings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// Unavailable wraps err with [keyward.ErrUnavailable] when unreachable, the
// backend's reading of its driver's errors, says that the database cannot
// be used now; the driver's error stays in the chain, for the log. Any
// other error, and an error already wrapping ErrUnavailable, is returned
// unchanged.
func Unavailable(err error, unreachable func(error) bool) error {
	if err == nil || errors.Is(err, keyward.ErrUnavailable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", keyward.ErrUnavailable, err)
}

// CmpErr returns err when it is not nil, otherwise fallback.
func CmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// StoredKey returns k as a SQL backend gives it back: empty byte slices nil
// and times as [keyward.StoredTime] makes them.
func StoredKey(k keyward.SigningKey) keyward.SigningKey {
	if len(k.PrivateKey) == 0 {
		k.PrivateKey = nil
	}
	if len(k.PublicJWK) == 0 {
		k.PublicJWK = nil
	}
	k.CreatedAt, k.ActivateAt = keyward.StoredTime(k.CreatedAt), keyward.StoredTime(k.ActivateAt)
	k.RetireAt, k.RemoveAt = keyward.StoredTime(k.RetireAt), keyward.StoredTime(k.RemoveAt)
	return k
}

// KeyPlan is what [keyward.KeyStore.UpdateKeys] writes: the IDs of the
// stored keys to delete and the keys to insert or update.
type KeyPlan struct {
	// Delete holds the IDs of the stored keys missing from the new set.
	Delete []string
	// Upsert holds the new keys and the changed ones, in the order of the
	// new set, in their stored form, with CreatedAt set when it was zero.
	Upsert []keyward.SigningKey
}

// PlanKeys runs fn, the update function given to
// [keyward.KeyStore.UpdateKeys], on current, the stored keys, validates its
// result with [keyward.ValidateKeySet] and compares it with the keys as they
// were before fn ran (fn may change the elements of current in place):
// unchanged keys are left alone. now is the store's clock, given to the
// keys without a CreatedAt. fn's error is returned as is, so that the
// caller can tell [keyward.ErrNoChange].
func PlanKeys(current []keyward.SigningKey, fn func([]keyward.SigningKey) ([]keyward.SigningKey, error), now time.Time) (KeyPlan, error) {
	old := make(map[string]keyward.SigningKey, len(current))
	for _, k := range current {
		old[k.ID] = k
	}
	next, err := fn(current)
	if err != nil {
		return KeyPlan{}, err
	}
	if err := keyward.ValidateKeySet(next); err != nil {
		return KeyPlan{}, err
	}
	var plan KeyPlan
	kept := make(map[string]bool, len(next))
	for _, k := range next {
		kept[k.ID] = true
		k = StoredKey(k)
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
		}
		if prev, ok := old[k.ID]; ok && reflect.DeepEqual(prev, k) {
			continue
		}
		plan.Upsert = append(plan.Upsert, k)
	}
	for id := range old {
		if !kept[id] {
			plan.Delete = append(plan.Delete, id)
		}
	}
	slices.Sort(plan.Delete)
	return plan, nil
}
