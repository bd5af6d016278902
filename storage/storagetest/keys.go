package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// key returns a signing key created at at(created).
func key(kid string, state keyward.KeyState, created time.Duration) keyward.SigningKey {
	return keyward.SigningKey{
		ID:         kid,
		Algorithm:  "ES256",
		State:      state,
		PrivateKey: []byte("sealed:" + kid),
		PublicJWK:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `"}`),
		CreatedAt:  at(created),
	}
}

func normKey(k keyward.SigningKey) keyward.SigningKey {
	k.CreatedAt = norm(k.CreatedAt)
	k.ActivateAt = norm(k.ActivateAt)
	k.RetireAt = norm(k.RetireAt)
	k.RemoveAt = norm(k.RemoveAt)
	return k
}

func normKeys(keys ...keyward.SigningKey) []keyward.SigningKey {
	out := make([]keyward.SigningKey, len(keys))
	for i, k := range keys {
		out[i] = normKey(k)
	}
	return out
}

// setKeys replaces the stored keys with keys.
func setKeys(t *testing.T, s keyward.Store, keys ...keyward.SigningKey) {
	t.Helper()
	must(t, "UpdateKeys", s.UpdateKeys(t.Context(), func([]keyward.SigningKey) ([]keyward.SigningKey, error) {
		return keys, nil
	}))
}

// listKeys returns the stored keys.
func listKeys(t *testing.T, s keyward.Store) []keyward.SigningKey {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	must(t, "ListKeys", err)
	return keys
}

func keyTests() []testCase {
	return []testCase{
		{name: "Keys/Empty", run: testKeysEmpty},
		{name: "Keys/RoundTripAndOrder", run: testKeysRoundTripAndOrder},
		{name: "Keys/Replace", run: testKeysReplace},
		{name: "Keys/NothingWritten", run: testKeysNothingWritten},
		{name: "Keys/Defaults", run: testKeysDefaults},
	}
}

func testKeysEmpty(t *testing.T, s keyward.Store) {
	if keys := listKeys(t, s); len(keys) != 0 {
		t.Fatalf("ListKeys() on an empty store = %+v", keys)
	}
	called := 0
	must(t, "UpdateKeys", s.UpdateKeys(t.Context(), func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		called++
		if len(cur) != 0 {
			t.Errorf("fn got %+v, want no keys", cur)
		}
		return cur, nil
	}))
	if called == 0 {
		t.Error("UpdateKeys did not call fn")
	}
}

func testKeysRoundTripAndOrder(t *testing.T, s keyward.Store) {
	full := key("k-full", keyward.KeyActive, 0)
	full.ActivateAt, full.RetireAt, full.RemoveAt = at(time.Hour), at(2*time.Hour), at(3*time.Hour)
	full.Algorithm, full.Purpose = "RS256", keyward.KeyPurposeIDToken
	// Stored out of order: ListKeys orders by CreatedAt, then ID.
	setKeys(t, s,
		key("k-c", keyward.KeyPending, time.Minute),
		full,
		key("k-b", keyward.KeyRetired, -time.Minute),
		key("k-a", keyward.KeyRetired, -time.Minute),
	)
	want := normKeys(
		key("k-a", keyward.KeyRetired, -time.Minute),
		key("k-b", keyward.KeyRetired, -time.Minute),
		full,
		key("k-c", keyward.KeyPending, time.Minute),
	)
	equal(t, "ListKeys", listKeys(t, s), want)
	must(t, "UpdateKeys", s.UpdateKeys(t.Context(), func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		equal(t, "fn argument", cur, want)
		return nil, keyward.ErrNoChange
	}))
}

func testKeysReplace(t *testing.T, s keyward.Store) {
	setKeys(t, s, key("old", keyward.KeyRetired, -2*time.Hour), key("cur", keyward.KeyActive, -time.Hour), key("next", keyward.KeyPending, 0))
	// Rotate: next becomes active, cur retired, old removed, a new key pending.
	must(t, "UpdateKeys", s.UpdateKeys(t.Context(), func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		var out []keyward.SigningKey
		for _, k := range cur {
			switch k.ID {
			case "old":
				continue
			case "cur":
				k.State, k.RetireAt, k.RemoveAt = keyward.KeyRetired, at(0), at(time.Hour)
			case "next":
				k.State, k.ActivateAt, k.Purpose = keyward.KeyActive, at(0), keyward.KeyPurposeIDToken
			}
			out = append(out, k)
		}
		return append(out, key("new", keyward.KeyPending, time.Hour)), nil
	}))
	cur := key("cur", keyward.KeyRetired, -time.Hour)
	cur.RetireAt, cur.RemoveAt = at(0), at(time.Hour)
	next := key("next", keyward.KeyActive, 0)
	next.ActivateAt, next.Purpose = at(0), keyward.KeyPurposeIDToken
	equal(t, "ListKeys", listKeys(t, s), normKeys(cur, next, key("new", keyward.KeyPending, time.Hour)))

	setKeys(t, s)
	if keys := listKeys(t, s); len(keys) != 0 {
		t.Errorf("ListKeys() after deleting all = %+v", keys)
	}
}

func testKeysNothingWritten(t *testing.T, s keyward.Store) {
	initial := []keyward.SigningKey{key("a", keyward.KeyActive, 0), key("b", keyward.KeyPending, time.Minute)}
	setKeys(t, s, initial...)
	errBoom := errors.New("boom")
	change := func(cur []keyward.SigningKey) []keyward.SigningKey {
		cur[0].State = keyward.KeyRetired
		return append(cur[1:], key("c", keyward.KeyActive, time.Hour))
	}
	tests := []struct {
		name string
		fn   func([]keyward.SigningKey) ([]keyward.SigningKey, error)
		want error
	}{
		{name: "no change", want: nil, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return change(cur), keyward.ErrNoChange
		}},
		{name: "wrapped no change", want: nil, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return change(cur), errors.Join(errors.New("fresh enough"), keyward.ErrNoChange)
		}},
		{name: "fn error", want: errBoom, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return change(cur), errBoom
		}},
		{name: "duplicate id", want: keyward.ErrInvalid, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return append(change(cur), key("c", keyward.KeyPending, 0)), nil
		}},
		{name: "empty id", want: keyward.ErrInvalid, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return append(change(cur), key("", keyward.KeyPending, 0)), nil
		}},
		{name: "invalid state", want: keyward.ErrInvalid, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			return append(change(cur), key("d", "disabled", 0)), nil
		}},
		{name: "invalid purpose", want: keyward.ErrInvalid, fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			k := key("d", keyward.KeyPending, 0)
			k.Purpose = "access_token"
			return append(change(cur), k), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "UpdateKeys", s.UpdateKeys(t.Context(), tt.fn), tt.want)
			equal(t, "ListKeys", listKeys(t, s), normKeys(initial...))
		})
	}
}

func testKeysDefaults(t *testing.T, s keyward.Store) {
	before := time.Now().Add(-time.Minute)
	k := key("k", keyward.KeyActive, 0)
	k.CreatedAt = time.Time{}
	k.PublicJWK = nil
	setKeys(t, s, k)
	keys := listKeys(t, s)
	if len(keys) != 1 {
		t.Fatalf("ListKeys() = %+v, want one key", keys)
	}
	if keys[0].CreatedAt.Before(before) || keys[0].CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", keys[0].CreatedAt)
	}
	k.CreatedAt = keys[0].CreatedAt
	equal(t, "ListKeys", keys[0], k)
}
