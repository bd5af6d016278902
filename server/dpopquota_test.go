package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
)

// TestProofErrorKeyQuota checks that a proof refused for its key's quota
// is answered 429 slow_down with the time until the key is taken again.
func TestProofErrorKeyQuota(t *testing.T) {
	t.Parallel()
	a := answerFor(proofError(&dpop.KeyQuotaError{RetryAfter: 30 * time.Second}))
	if a.status != http.StatusTooManyRequests || a.code != "slow_down" || a.retryAfter != 30*time.Second {
		t.Fatalf("answer %+v, want 429 slow_down after 30s", a)
	}
}
