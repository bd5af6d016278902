package gate

import (
	"fmt"

	"github.com/keyward/keyward/verifier"
)

// DPoP at the gate.
//
// The gate checks DPoP proofs with the verifier's middleware, so a request
// with `Authorization: DPoP <token>` passes only with a proof by the key
// its token is bound to, for this request's method and public URL
// (Config.DPoP.Origin and the request's path), made inside the window and
// never seen before. A token answered from the verified-token cache still
// has its proof checked on every request: the cache spares the token's
// signature, never the proof's.
//
// The replay cache is the process's own: behind a load balancer, a proof
// copied off the wire can be replayed once at each other gate replica
// within the window (60 s by default). Server nonces do not change that;
// shared by every replica (the same secret), they bound how old a proof
// can be by the gate's clock rather than the client's, so that proofs
// cannot be made ahead of time.
//
// Refusals of DPoP have reasons of their own ([RefusalReason]):
// "dpop_required" (a Bearer token where only DPoP is accepted) and the DPoP
// reasons of [verifier.Reason] ("dpop_invalid", "dpop_replay",
// "dpop_key_mismatch", "dpop_bound_as_bearer"...).

// dpopConfig validates the gate's DPoP configuration.
func dpopConfig(c verifier.DPoPConfig) (verifier.DPoPConfig, error) {
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("gate: %w", err)
	}
	return c, nil
}
