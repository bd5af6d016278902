// Package storagetest is the conformance suite of [keyward.Store]: every
// backend's tests call [Run] and [RunConcurrency], and the backends that share
// a database between processes also call [RunReplicas].
//
//	func TestStore(t *testing.T) {
//		newStore := func(t *testing.T) keyward.Store { ... }
//		storagetest.Run(t, newStore)
//		storagetest.RunConcurrency(t, newStore)
//	}
//
// It builds on the root package and must never import a backend (each
// backend's tests import it), issuer, server or the verifier side.
package storagetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// NewStore returns an empty store for one subtest. It is called from parallel
// subtests and should close the store with t.Cleanup.
type NewStore func(t *testing.T) keyward.Store

// testCase is one contract checked on a fresh store.
type testCase struct {
	name string
	run  func(t *testing.T, s keyward.Store)
}

// Run checks every contract of [keyward.Store] on stores made by newStore, one
// fresh store for each parallel subtest.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	var tests []testCase
	tests = append(tests, userTests()...)
	tests = append(tests, clientTests()...)
	tests = append(tests, keyTests()...)
	tests = append(tests, refreshTests()...)
	tests = append(tests, codeTests()...)
	tests = append(tests, sessionTests()...)
	tests = append(tests, revocationTests()...)
	tests = append(tests, backchannelTests()...)
	tests = append(tests, mfaTests()...)
	tests = append(tests, passkeyTests()...)
	tests = append(tests, throttleTests()...)
	tests = append(tests, testCase{name: "Ping", run: func(t *testing.T, s keyward.Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping() = %v", err)
		}
	}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStore(t))
		})
	}
}

// at returns a fixed instant plus d. The instant has nanoseconds and a zone
// other than UTC, so that the suite checks the stores' normalisation.
func at(d time.Duration) time.Time {
	return time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+2", 2*3600)).Add(d)
}

// norm is how a store gives back a time: UTC, microseconds, no monotonic
// reading.
func norm(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// wantErr fails the test unless err wraps target (or is nil when target is).
func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", op, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error = %v, want one wrapping %v", op, err, target)
	}
}

// must fails the test when err is not nil.
func must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// equal fails the test unless got and want are deeply equal once nil and
// empty slices and maps are considered the same.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(canon(reflect.ValueOf(got)), canon(reflect.ValueOf(want))) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// canon returns a copy of v in which empty slices and maps are nil, for
// comparison.
func canon(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = canon(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		out := make(map[any]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().Interface()] = canon(it.Value())
		}
		return out
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return v.Interface()
		}
		out := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			out[v.Type().Field(i).Name] = canon(v.Field(i))
		}
		return out
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return canon(v.Elem())
	default:
		return v.Interface()
	}
}

// hash returns the SHA-256 of n, as the issuer hashes its opaque tokens.
func hash(n string) []byte {
	h := sha256.Sum256([]byte(n))
	return h[:]
}

// id returns a name unique within a test for i.
func id(prefix string, i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }
