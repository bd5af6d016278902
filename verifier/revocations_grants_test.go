package verifier

import (
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// TestRevocationListRefusesSessionsAndFamilies checks that a session or a
// refresh-token family in the feed refuses every token that names it, a
// cached one included, and that the entries leave at their expiry.
func TestRevocationListRefusesSessionsAndFamilies(t *testing.T) {
	t.Parallel()
	k := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	feed, srv := newFeed(t, `{"generated_at":0,"tokens":[],"users":[]}`)
	list := newList(t, srv.URL, c, 0)
	cfg := baseConfig(c, k)
	cfg.Leeway = time.Hour // tokens stay valid past the entries' expiry
	cfg.Revocations = list
	v := newVerifier(t, cfg)

	tokens := map[string]string{}
	for _, tc := range []struct {
		name     string
		sid, fid any
	}{
		{name: "session", sid: "s-revoked"},
		{name: "family", fid: "f-revoked"},
		{name: "session of family", sid: "s-revoked", fid: "f-live"},
		{name: "family of session", sid: "s-live", fid: "f-revoked"},
		{name: "live", sid: "s-live", fid: "f-live"},
		{name: "none"},
		{name: "family named as session", sid: "f-revoked"},
		{name: "not a string", sid: 7, fid: true},
	} {
		cl := claims()
		cl.ID = "jti-" + tc.name
		if tc.sid != nil {
			cl.Extra["sid"] = tc.sid
		}
		if tc.fid != nil {
			cl.Extra["fid"] = tc.fid
		}
		tokens[tc.name] = k.sign(t, TypeAccessToken, cl)
	}
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, tok := range tokens {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("%s before revocation: %v", name, err)
		}
	}

	exp := t0.Add(20 * time.Minute)
	feed.set(`{"generated_at":1,"tokens":[],"users":[],` +
		`"sessions":[{"sid":"s-revoked","exp":` + strconv.FormatInt(exp.Unix(), 10) + `}],` +
		`"families":[{"fid":"f-revoked","exp":` + strconv.FormatInt(exp.Add(time.Minute).Unix(), 10) + `}]}`)
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{"session": true, "family": true, "session of family": true, "family of session": true}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			var want error
			if revoked[name] {
				want = ErrRevoked
			}
			for range 2 { // the cache hit, then a full verification
				if _, err := v.Verify(t.Context(), tok); !errors.Is(err, want) {
					t.Fatalf("Verify: %v, want %v", err, want)
				}
			}
		})
	}
	if st := list.Status(); st.Sessions != 1 || st.Families != 1 || st.Err != nil {
		t.Errorf("Status = %+v, want 1 session, 1 family, no error", st)
	}

	// At the session's expiry (a 304 revalidation), it leaves; the family,
	// a minute longer, stays.
	c.Add(20 * time.Minute)
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := list.Status(); st.Sessions != 0 || st.Families != 1 {
		t.Errorf("Status after the session's expiry = %+v, want 0 sessions, 1 family", st)
	}
	if _, err := v.Verify(t.Context(), tokens["session"]); err != nil {
		t.Errorf("session token after its entry expired: %v", err)
	}
	if _, err := v.Verify(t.Context(), tokens["family"]); !errors.Is(err, ErrRevoked) {
		t.Errorf("family token before its entry expired: %v, want ErrRevoked", err)
	}
}

// TestParseFeedGrants checks the strict reading of session and family
// entries.
func TestParseFeedGrants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		body               string
		sessions, families map[string]int64
		wantErr            bool
	}{
		{name: "absent (an older issuer)", body: `{"tokens":[],"users":[]}`, sessions: map[string]int64{}, families: map[string]int64{}},
		{name: "listed", body: `{"sessions":[{"sid":"s","exp":20}],"families":[{"fid":"f","exp":30}]}`,
			sessions: map[string]int64{"s": 20}, families: map[string]int64{"f": 30}},
		{name: "expired dropped", body: `{"sessions":[{"sid":"s","exp":10}],"families":[{"fid":"f","exp":9}]}`,
			sessions: map[string]int64{}, families: map[string]int64{}},
		{name: "twice, the later expiry", body: `{"families":[{"fid":"f","exp":30},{"fid":"f","exp":40},{"fid":"f","exp":35}]}`,
			sessions: map[string]int64{}, families: map[string]int64{"f": 40}},
		{name: "no expiry never expires", body: `{"sessions":[{"sid":"s","exp":30},{"sid":"s","exp":0},{"sid":"s","exp":40}]}`,
			sessions: map[string]int64{"s": 0}, families: map[string]int64{}},
		{name: "session without sid", body: `{"sessions":[{"exp":30}]}`, wantErr: true},
		{name: "family without fid", body: `{"families":[{"fid":"","exp":30}]}`, wantErr: true},
		{name: "wrong case is not the member", body: `{"Sessions":[{"sid":"s","exp":30}]}`, sessions: map[string]int64{}, families: map[string]int64{}},
		{name: "duplicate member", body: `{"families":[],"families":[]}`, wantErr: true},
		{name: "wrong type", body: `{"families":[{"fid":7,"exp":30}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _, err := parseFeed([]byte(tt.body), 10)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFeed(%s) accepted %+v", tt.body, e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(e.sessions, tt.sessions) || !maps.Equal(e.families, tt.families) {
				t.Errorf("parseFeed(%s) = sessions %v, families %v; want %v, %v", tt.body, e.sessions, e.families, tt.sessions, tt.families)
			}
		})
	}
}
