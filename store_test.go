package keyward

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestStoredTime(t *testing.T) {
	t.Parallel()
	in := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+2", 2*3600))
	got := StoredTime(in)
	if want := time.Date(2031, 5, 6, 5, 8, 9, 123456000, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("StoredTime(%v) = %v, want %v", in, got, want)
	}
	if !StoredTime(time.Time{}).IsZero() {
		t.Error("StoredTime(zero) is not zero")
	}
}

func TestIgnoreNoChange(t *testing.T) {
	t.Parallel()
	other := errors.New("other")
	tests := []struct {
		err, want error
	}{
		{err: nil, want: nil},
		{err: ErrNoChange, want: nil},
		{err: fmt.Errorf("fn: %w", ErrNoChange), want: nil},
		{err: other, want: other},
	}
	for _, tt := range tests {
		if got := IgnoreNoChange(tt.err); got != tt.want {
			t.Errorf("IgnoreNoChange(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestValidateKeySet(t *testing.T) {
	t.Parallel()
	ok := SigningKey{ID: "k1", State: KeyActive}
	tests := []struct {
		name string
		keys []SigningKey
		want error
	}{
		{name: "empty set", keys: nil},
		{name: "valid", keys: []SigningKey{ok, {ID: "k2", State: KeyPending, Purpose: KeyPurposeIDToken}}},
		{name: "empty id", keys: []SigningKey{{State: KeyActive}}, want: ErrInvalid},
		{name: "bad state", keys: []SigningKey{{ID: "k", State: "gone"}}, want: ErrInvalid},
		{name: "bad purpose", keys: []SigningKey{{ID: "k", State: KeyActive, Purpose: "other"}}, want: ErrInvalid},
		{name: "duplicate id", keys: []SigningKey{ok, {ID: "k1", State: KeyRetired}}, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateKeySet(tt.keys); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("ValidateKeySet() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRefreshTokenRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	live := RefreshToken{Hash: []byte("h"), FamilyID: "f", UserID: "u", ClientID: "c", SessionID: "s", ExpiresAt: now.Add(time.Hour), JKT: "key"}
	tests := []struct {
		name string
		tok  func(RefreshToken) RefreshToken
		want error
	}{
		{name: "usable", tok: func(r RefreshToken) RefreshToken { return r }},
		{name: "used", tok: func(r RefreshToken) RefreshToken { r.UsedAt, r.RevokedAt = now, now; return r }, want: ErrRefreshReused},
		{name: "revoked", tok: func(r RefreshToken) RefreshToken { r.RevokedAt = now; r.ExpiresAt = now; return r }, want: ErrRevoked},
		{name: "expired at the instant", tok: func(r RefreshToken) RefreshToken { r.ExpiresAt = now; return r }, want: ErrExpired},
	}
	for _, tt := range tests {
		if err := tt.tok(live).RotationError(now); err != tt.want {
			t.Errorf("%s: RotationError() = %v, want %v", tt.name, err, tt.want)
		}
	}

	next := RefreshToken{Hash: []byte("n"), FamilyID: "other", UserID: "x", ClientID: "y", SessionID: "z", Scope: "a",
		ExpiresAt: now.Add(100 * time.Hour), UsedAt: now, RevokedAt: now, JKT: "other-key"}
	got := live.Successor(next, now)
	want := RefreshToken{Hash: []byte("n"), FamilyID: "f", UserID: "u", ClientID: "c", SessionID: "s", Scope: "a",
		IssuedAt: now, ExpiresAt: live.ExpiresAt, JKT: live.JKT}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Successor() = %+v, want %+v", got, want)
	}
	unbound := live
	unbound.JKT = ""
	if got := unbound.Successor(next, now); got.JKT != next.JKT {
		t.Errorf("Successor() of an unbound token: JKT = %q, want the one given, %q", got.JKT, next.JKT)
	}
	next.IssuedAt = now.Add(-time.Minute)
	if got := live.Successor(next, now); !got.IssuedAt.Equal(next.IssuedAt) {
		t.Errorf("Successor() IssuedAt = %v, want the one given, %v", got.IssuedAt, next.IssuedAt)
	}

	for _, r := range []RefreshToken{{FamilyID: "f"}, {Hash: []byte("h")}} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", r, err)
		}
	}
	if err := live.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestAuthCodeConsumeError(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		code AuthCode
		want error
	}{
		{name: "usable", code: AuthCode{ExpiresAt: now.Add(time.Minute)}},
		{name: "used and expired", code: AuthCode{UsedAt: now, ExpiresAt: now}, want: ErrCodeReused},
		{name: "expired at the instant", code: AuthCode{ExpiresAt: now}, want: ErrExpired},
	}
	for _, tt := range tests {
		if err := tt.code.ConsumeError(now); err != tt.want {
			t.Errorf("%s: ConsumeError() = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCheckSessionUpdate(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	old := Session{ID: "s", CookieHash: []byte("c"), UserID: "u", CreatedAt: now, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name   string
		change func(*Session)
		want   error
	}{
		{name: "renewal", change: func(v *Session) {
			v.CookieHash, v.AuthTime, v.ExpiresAt = []byte("d"), now.Add(time.Minute), now.Add(2*time.Hour)
		}},
		{name: "id", change: func(v *Session) { v.ID = "t" }, want: ErrInvalid},
		{name: "user", change: func(v *Session) { v.UserID = "v" }, want: ErrInvalid},
		{name: "creation", change: func(v *Session) { v.CreatedAt = now.Add(time.Second) }, want: ErrInvalid},
		{name: "revocation", change: func(v *Session) { v.RevokedAt = now }, want: ErrInvalid},
		{name: "empty cookie hash", change: func(v *Session) { v.CookieHash = nil }, want: ErrInvalid},
	}
	for _, tt := range tests {
		next := old
		tt.change(&next)
		if err := CheckSessionUpdate(old, next); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: CheckSessionUpdate() = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestUserAndSessionValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{name: "user", err: User{ID: "u", Username: "alice"}.Validate()},
		{name: "user without id", err: User{Username: "alice"}.Validate(), want: ErrInvalid},
		{name: "user without username", err: User{ID: "u"}.Validate(), want: ErrInvalid},
		{name: "user update", err: CheckUserUpdate(User{ID: "u", Username: "alice"}, User{ID: "u", Username: "bob"})},
		{name: "user update changing the id", err: CheckUserUpdate(User{ID: "u", Username: "alice"}, User{ID: "v", Username: "alice"}), want: ErrInvalid},
		{name: "user update emptying the username", err: CheckUserUpdate(User{ID: "u", Username: "alice"}, User{ID: "u"}), want: ErrInvalid},
		{name: "session", err: Session{ID: "s", CookieHash: []byte("c")}.Validate()},
		{name: "session without id", err: Session{CookieHash: []byte("c")}.Validate(), want: ErrInvalid},
		{name: "session without cookie hash", err: Session{ID: "s", CookieHash: []byte{}}.Validate(), want: ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) || (tt.want == nil) != (tt.err == nil) {
			t.Errorf("%s: error = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}
