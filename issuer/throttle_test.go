package issuer

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLoginLockoutFromOneNetwork is the targeted-lockout attack: wrong
// passwords from one network at the highest rate the throttle allows (five
// tries every 6 s, most of them refused), for an hour, must not keep the
// owner out when the owner signs in from another network.
func TestLoginLockoutFromOneNetwork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		attacker, owner  string
		attackerRotation func(n int) string // nil: always attacker
	}{
		{name: "ipv4", attacker: "198.51.100.7:4000", owner: "203.0.113.9:5000"},
		{name: "ipv6 other /64", attacker: "[2001:db8:1:1::1]:4000", owner: "[2001:db8:1:2::1]:5000"},
		{name: "ipv6 attacker rotating inside its /64", owner: "[2001:db8:9:9::1]:5000",
			attackerRotation: func(n int) string { return fmt.Sprintf("[2001:db8:1:1::%x]:4000", n+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, nil)
			f.addUser(t, "alice", "correct horse battery staple", nil)
			for n := range 600 { // one hour at one attempt every 6 s
				addr := tt.attacker
				if tt.attackerRotation != nil {
					addr = tt.attackerRotation(n)
				}
				clk.Add(6 * time.Second)
				for range 5 {
					_, _ = f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "guess", RemoteAddr: addr})
				}
			}
			if _, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: tt.owner}); err != nil {
				t.Fatalf("the owner, from another network, after an hour of attack: %v", err)
			}
		})
	}
}

// distributedAttack makes wrong-password attempts at alice from a new
// IPv4 address each time, five every 6 s for an hour, and returns how many
// were let through to the password check.
func distributedAttack(t *testing.T, f *fixture) int {
	t.Helper()
	through := 0
	for n := range 600 {
		f.clock.Add(6 * time.Second)
		for k := range 5 {
			addr := fmt.Sprintf("10.%d.%d.%d:1", n/256, n%256, k)
			_, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "guess", RemoteAddr: addr})
			switch oauthCode(err) {
			case CodeInvalidGrant:
				through++
			case CodeSlowDown:
			default:
				t.Fatalf("attempt from %s: %v", addr, err)
			}
		}
	}
	return through
}

// TestLoginDistributedAttackBounded checks that an attacker spread over
// many addresses is bounded by the account's ceiling: over an hour, at
// most its burst plus one attempt per refill interval reaches the password
// check, and then the owner without a known-browser cookie waits too.
func TestLoginDistributedAttackBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, func(c *Config) { c.Throttle.MaxEntries = 100000 })
	f.addUser(t, "alice", "correct horse battery staple", nil)
	through := distributedAttack(t, f)
	limit := 100 + int(time.Hour/(6*time.Second))
	if through > limit {
		t.Fatalf("%d guesses reached the password check in an hour, want at most %d", through, limit)
	}
	if through < limit/2 {
		t.Fatalf("only %d guesses reached the password check: the test does not reach the ceiling", through)
	}
	_, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "203.0.113.9:1"})
	if oauthCode(err) != CodeSlowDown {
		t.Fatalf("the owner without a cookie at an exhausted ceiling: %v, want slow_down", err)
	}
}

// TestKnownBrowserPassesThrottledAccount checks that the owner's browser
// with a known-browser cookie signs in to an account whose ceiling a
// distributed attack has exhausted, from any network, and that the cookie
// has its own bounded bucket: a stolen cookie does not give unbounded
// guesses, nor does it serve for another account.
func TestKnownBrowserPassesThrottledAccount(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, func(c *Config) {
		c.Throttle.MaxEntries = 100000
		c.Throttle.KnownBrowserKey = bytes.Repeat([]byte{7}, 32)
	})
	f.addUser(t, "alice", "correct horse battery staple", nil)
	f.addUser(t, "bob", "another fine long password", nil)
	cookie, err := f.issuer.KnownBrowser("Alice")
	if err != nil {
		t.Fatal(err)
	}
	distributedAttack(t, f)
	owner := LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "10.0.0.1:1", KnownBrowser: cookie}
	if _, err := f.issuer.Login(t.Context(), owner); err != nil {
		t.Fatalf("the owner with the cookie, from an attacking network: %v", err)
	}
	// Another issuer with the same key accepts the cookie (a replica, or
	// a restart).
	f2 := newFixture(t, f.store, clk, func(c *Config) { c.Throttle.KnownBrowserKey = bytes.Repeat([]byte{7}, 32) })
	distributedAttack(t, f2)
	if _, err := f2.issuer.Login(t.Context(), owner); err != nil {
		t.Fatalf("the owner with the cookie at a second issuer: %v", err)
	}

	// A thief with the cookie: its bucket runs dry, then one try a minute.
	thief := owner
	thief.Password = "guess"
	through := 0
	for range 60 {
		if oauthCode(mustFail(t, f.issuer, thief)) == CodeInvalidGrant {
			through++
		}
	}
	if through > 10 { // the burst, refilled during the second attack
		t.Fatalf("a stolen cookie got %d guesses at once, want at most 10", through)
	}

}

// TestKnownBrowserCookie checks which cookie values let a browser through:
// only one made for the account tried, unchanged, unexpired, under the
// issuer's key.
func TestKnownBrowserCookie(t *testing.T) {
	t.Parallel()
	clk := newClock()
	key := func(c *Config) { c.Throttle.KnownBrowserKey = bytes.Repeat([]byte{7}, 32) }
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, key)
	good, err := f.issuer.KnownBrowser("alice")
	if err != nil {
		t.Fatal(err)
	}
	other := newFixture(t, f.store, clk, nil)
	otherKey, _ := other.issuer.KnownBrowser("alice")
	tests := []struct {
		name, value, account string
		at                   time.Duration
		ok                   bool
	}{
		{name: "valid", value: good, account: "alice", ok: true},
		{name: "valid at the end of its life", value: good, account: "alice", at: KnownBrowserTTL - time.Second, ok: true},
		{name: "expired", value: good, account: "alice", at: KnownBrowserTTL},
		{name: "another account", value: good, account: "bob"},
		{name: "another key", value: otherKey, account: "alice"},
		{name: "tampered nonce", value: strings.Replace(good, "kb1.", "kb1.A", 1), account: "alice"},
		{name: "tampered expiry", value: good[:strings.LastIndexByte(good, '.')-1] + "9" + good[strings.LastIndexByte(good, '.'):], account: "alice"},
		{name: "empty", value: "", account: "alice"},
		{name: "too long", value: good + strings.Repeat("A", maxKnownBrowserLen), account: "alice"},
		{name: "no fields", value: "kb1", account: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := f.issuer.knownBrowserID(tt.value, tt.account, clk.Now().Add(tt.at))
			if (got != "") != tt.ok {
				t.Fatalf("knownBrowserID = %q, want accepted %v", got, tt.ok)
			}
		})
	}
}

// FuzzKnownBrowserID checks that reading a known-browser cookie value never
// panics and accepts nothing the issuer did not make.
func FuzzKnownBrowserID(f *testing.F) {
	clk := newClock()
	fx := newFixture(f, backends(f)[0].open(f, clk.Now), clk, nil)
	good, err := fx.issuer.KnownBrowser("alice")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "kb1...", "kb1.a.b.c", "kb1.a.99999999999999999999.c", "kb1.a.-1.c", strings.Repeat(".", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if fx.issuer.knownBrowserID(v, "alice", clk.Now()) != "" && v != good {
			t.Fatalf("accepted a value the issuer did not make: %q", v)
		}
	})
}

// TestClientNetwork checks the throttle's client networks: IPv4 by
// address, IPv6 by /64, ports and zones ignored.
func TestClientNetwork(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1:443", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"not-an-address", "not-an-address"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
	} {
		if got := ClientNetwork(tt.in); got != tt.want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// mustFail is a login that must not succeed; it returns its error.
func mustFail(t *testing.T, iss *Issuer, req LoginRequest) error {
	t.Helper()
	_, err := iss.Login(t.Context(), req)
	if err == nil {
		t.Fatal("a login with a wrong password succeeded")
	}
	return err
}
