package sqlstore

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestPlanKeys(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := func() []keyward.SigningKey {
		return []keyward.SigningKey{
			{ID: "a", State: keyward.KeyRetired, CreatedAt: now.Add(-2 * time.Hour)},
			{ID: "b", State: keyward.KeyActive, CreatedAt: now.Add(-time.Hour)},
			{ID: "c", State: keyward.KeyPending, CreatedAt: now.Add(-time.Minute)},
		}
	}
	tests := []struct {
		name       string
		fn         func([]keyward.SigningKey) ([]keyward.SigningKey, error)
		wantDelete []string
		wantUpsert []string
		wantErr    error
	}{
		{
			name: "unchanged",
			fn:   func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) { return cur, nil },
		},
		{
			// The update function changes the elements it was given in place:
			// the change is still seen.
			name: "changed in place, one removed, one added",
			fn: func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
				cur[2].State = keyward.KeyActive
				cur[1].State = keyward.KeyRetired
				return append(cur[1:], keyward.SigningKey{ID: "d", State: keyward.KeyPending}), nil
			},
			wantDelete: []string{"a"},
			wantUpsert: []string{"b", "c", "d"},
		},
		{
			name:    "invalid set",
			fn:      func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) { return append(cur, cur[0]), nil },
			wantErr: keyward.ErrInvalid,
		},
		{
			name:    "no change",
			fn:      func([]keyward.SigningKey) ([]keyward.SigningKey, error) { return nil, keyward.ErrNoChange },
			wantErr: keyward.ErrNoChange,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, err := PlanKeys(stored(), tt.fn, now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("PlanKeys() error = %v, want %v", err, tt.wantErr)
			}
			var upserted []string
			for _, k := range plan.Upsert {
				upserted = append(upserted, k.ID)
			}
			if !slices.Equal(plan.Delete, tt.wantDelete) || !slices.Equal(upserted, tt.wantUpsert) {
				t.Errorf("PlanKeys() = delete %v, upsert %v, want delete %v, upsert %v", plan.Delete, upserted, tt.wantDelete, tt.wantUpsert)
			}
			for _, k := range plan.Upsert {
				if k.ID == "d" && !k.CreatedAt.Equal(now) {
					t.Errorf("new key CreatedAt = %v, want the store's clock %v", k.CreatedAt, now)
				}
			}
		})
	}
}

func TestEncodeJSONInvalid(t *testing.T) {
	t.Parallel()
	if _, err := EncodeJSON(map[string]any{"c": make(chan int)}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("EncodeJSON(channel) = %v, want ErrInvalid", err)
	}
}

// FuzzJSON holds the JSON column scanner to a round trip: whatever a column
// holds, scanning never panics, and what it scans encodes back to a value
// that scans to the same thing.
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{`[]`, `{}`, `["a","b"]`, `{"email":"a@example.com","n":1.5,"l":[1,{}]}`, `null`, `[`, `"x"`, `{"a":1,"a":2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dst := range []func() any{func() any { return new([]string) }, func() any { return new(map[string]any) }} {
			first := dst()
			if err := (JSON{Dst: first}).Scan(b); err != nil {
				continue
			}
			enc, err := EncodeJSON(reflect.ValueOf(first).Elem().Interface())
			if err != nil {
				t.Fatalf("EncodeJSON(%v) after scanning %q: %v", first, b, err)
			}
			second := dst()
			if err := (JSON{Dst: second}).Scan(enc); err != nil {
				t.Fatalf("Scan(%q), encoded from %q: %v", enc, b, err)
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("round trip of %q: %v, then %v", b, first, second)
			}
		}
	})
}
