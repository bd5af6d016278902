package issuer

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestSecondFactorThrottleSharedByReplicas guesses one user's second-factor
// codes on two replicas of one PostgreSQL database that share the master
// key: together they let through the one bucket of the user, not one each.
func TestSecondFactorThrottleSharedByReplicas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	const burst = 4
	replicas := sharedReplicas(t, clk, 7, ThrottleConfig{SecondFactorBurst: burst, SecondFactorEvery: time.Hour})
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
