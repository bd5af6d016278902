package issuer

import (
	"bytes"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/storage/postgres"
)

// TestSecondFactorThrottleSharedByReplicas guesses one user's second-factor
// codes on two replicas of one PostgreSQL database that share the master
// key: together they let through the one bucket of the user, not one each.
func TestSecondFactorThrottleSharedByReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewServer(t).NewDatabase(t)
	clk := newClock()
	const burst = 4
	key, err := ThrottleKey(bytes.Repeat([]byte{7}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	replicas := make([]*fixture, 2)
	for i := range replicas {
		s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = newFixture(t, s, clk, func(c *Config) {
			c.Throttle = ThrottleConfig{SecondFactorBurst: burst, SecondFactorEvery: time.Hour, BucketKey: key}
		})
	}
	u := replicas[0].addUser(t, "alice", "correct horse battery staple", nil)
	through := 0
	for n := range 4 * burst {
		f := replicas[n%len(replicas)]
		_, err := f.issuer.VerifySecondFactor(t.Context(), keyward.Session{ID: "s1", UserID: u.ID}, "000000")
		switch oauthCode(err) {
		case CodeInvalidGrant:
			through++
		case CodeSlowDown:
		default:
			t.Fatalf("attempt %d: %v", n, err)
		}
	}
	if through != burst {
		t.Fatalf("%d codes reached the check over two replicas, want the one bucket of %d", through, burst)
	}
}
