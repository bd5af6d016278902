package issuer

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/storage/postgres"
)

// TestThrottleSharedByReplicas runs two issuers on one PostgreSQL database,
// as two replicas behind a load balancer: a distributed attack that
// alternates between them meets one account ceiling, not one per replica.
func TestThrottleSharedByReplicas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	const ceiling = 5
	replicas := sharedReplicas(t, clk, 9, ThrottleConfig{AccountBurst: ceiling, AccountEvery: time.Hour})
	replicas[0].addUser(t, "alice", "correct horse battery staple", nil)
	through := 0
	for n := range 4 * ceiling {
		f := replicas[n%len(replicas)]
		_, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "guess", RemoteAddr: fmt.Sprintf("10.0.0.%d:1", n+1)})
		switch oauthCode(err) {
		case CodeInvalidGrant:
			through++
		case CodeSlowDown:
		default:
			t.Fatalf("attempt %d: %v", n, err)
		}
	}
	if through != ceiling {
		t.Fatalf("%d guesses reached the password check over two replicas, want the one account ceiling of %d", through, ceiling)
	}
}

// sharedReplicas opens two issuers on one throwaway PostgreSQL database that
// share the clock and throttle settings tc, as two replicas behind a load
// balancer. Both derive the buckets' names from one master key made of
// keyByte, as replicas started with the same master key do.
func sharedReplicas(t *testing.T, clk *clock, keyByte byte, tc ThrottleConfig) []*fixture {
	t.Helper()
	dsn := pgtest.NewServer(t).NewDatabase(t)
	key, err := ThrottleKey(bytes.Repeat([]byte{keyByte}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	tc.BucketKey = key
	replicas := make([]*fixture, 2)
	for i := range replicas {
		s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = newFixture(t, s, clk, func(c *Config) { c.Throttle = tc })
	}
	return replicas
}
