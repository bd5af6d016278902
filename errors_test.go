package keyward_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyward/keyward"
)

func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
	}{
		{name: "nil", err: nil, wantCode: "", wantMessage: ""},
		{name: "sentinel", err: keyward.ErrNotFound, wantCode: keyward.ENOTFOUND, wantMessage: "keyward: not found"},
		{name: "wrapped sentinel", err: fmt.Errorf("get user %q: %w", "x", keyward.ErrConflict), wantCode: keyward.ECONFLICT, wantMessage: "keyward: conflict"},
		{name: "unavailable", err: fmt.Errorf("ping: %w", keyward.ErrUnavailable), wantCode: keyward.EUNAVAILABLE, wantMessage: "keyward: store unavailable"},
		{name: "errorf", err: keyward.Errorf(keyward.EUNAUTHORIZED, "bad password"), wantCode: keyward.EUNAUTHORIZED, wantMessage: "bad password"},
		{name: "empty message", err: &keyward.Error{Code: keyward.EINVALID}, wantCode: keyward.EINVALID, wantMessage: "keyward: invalid"},
		{name: "foreign error", err: errors.New("pq: connection refused at 10.0.0.1"), wantCode: keyward.EINTERNAL, wantMessage: "keyward: internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := keyward.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode() = %q, want %q", got, tt.wantCode)
			}
			if got := keyward.ErrorMessage(tt.err); got != tt.wantMessage {
				t.Errorf("ErrorMessage() = %q, want %q", got, tt.wantMessage)
			}
		})
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	sentinels := []error{
		keyward.ErrNotFound, keyward.ErrConflict, keyward.ErrRefreshReused, keyward.ErrCodeReused,
		keyward.ErrRevoked, keyward.ErrExpired, keyward.ErrInvalid, keyward.ErrUnavailable, keyward.ErrNoChange,
	}
	for i, a := range sentinels {
		for j, b := range sentinels {
			wrapped := fmt.Errorf("op: %w", a)
			if got := errors.Is(wrapped, b); got != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", wrapped, b, got, i == j)
			}
		}
	}
}
