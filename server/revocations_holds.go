package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/issuer"
)

// MaxRevocationWaitersPerClient is the default of
// [Config.RevocationWaitersPerClient], the most long-polls (GET
// /revocations?since=C&wait=N) one client network holds at once: an IPv4
// address, or the /64 of an IPv6 address ([issuer.ClientNetwork]), read
// behind [Config.TrustedProxies] as the login throttle reads it. Beyond it
// a long-poll of that network is answered at once, as without wait, and
// its verifier falls back to its polling interval, while other networks'
// long-polls are still held: one client cannot take every one of the
// [MaxRevocationWaiters] slots and push every other verifier back to
// polling. A verifier process holds one long-poll per feed it follows, so
// 64 lets that many verifier processes share one address (a host or a NAT
// gateway) before the ones past it only poll; a client needs that many
// networks to fill the server's slots.
const MaxRevocationWaitersPerClient = 64

// revocationLogEvery is how often at most a server logs
// revocation_hold_refused for each reason.
const revocationLogEvery = time.Minute

// Reasons for a refused hold, the reason of revocation_hold_refused.
const (
	holdRefusedClient = "client_cap"
	holdRefusedServer = "server_cap"
)

// revocationHolds counts the long-polls a server holds by client network;
// a network has an entry only while it holds one, so there are at most
// [MaxRevocationWaiters] entries. Its total is [Server.waiters].
type revocationHolds struct {
	mu       sync.Mutex
	byClient map[string]int
	// refused counts the holds refused by reason since its last log line;
	// loggedAt is when that line was written.
	refused  map[string]int
	loggedAt map[string]time.Time
}

// holdRevocation takes a long-poll slot for the client that sent r. It
// returns the function that gives the slot back, or, when the client's
// network already holds [Config.RevocationWaitersPerClient] long-polls or the
// server [MaxRevocationWaiters], nil: the request is then answered at once.
func (s *Server) holdRevocation(r *http.Request) (release func()) {
	client := issuer.ClientNetwork(clientAddr(r, s.cfg.TrustedProxies))
	h := &s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	limit := s.cfg.RevocationWaitersPerClient
	if limit == 0 {
		limit = MaxRevocationWaitersPerClient
	}
	if h.byClient[client] >= limit {
		s.refuseHold(r.Context(), holdRefusedClient, client)
		return nil
	}
	if s.waiters.Add(1) > MaxRevocationWaiters {
		s.waiters.Add(-1)
		s.refuseHold(r.Context(), holdRefusedServer, client)
		return nil
	}
	if h.byClient == nil {
		h.byClient = make(map[string]int)
	}
	h.byClient[client]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.byClient[client]--; h.byClient[client] <= 0 {
			delete(h.byClient, client)
		}
		s.waiters.Add(-1)
	}
}

// refuseHold counts a refused hold and logs revocation_hold_refused (warn)
// at most once per [revocationLogEvery] and reason, with the holds refused
// for that reason since the last line and the network of the client that
// met the cap. Called with s.holds.mu held.
func (s *Server) refuseHold(ctx context.Context, reason, client string) {
	h := &s.holds
	if h.refused == nil {
		h.refused, h.loggedAt = make(map[string]int), make(map[string]time.Time)
	}
	h.refused[reason]++
	now := time.Now()
	if last, ok := h.loggedAt[reason]; s.log == nil || ok && now.Sub(last) < revocationLogEvery {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "revocation_hold_refused",
		slog.String("request_id", RequestID(ctx)),
		slog.String("reason", reason), slog.String("client_network", client),
		slog.Int("refused", h.refused[reason]), slog.Int64("held", s.waiters.Load()))
	h.refused[reason], h.loggedAt[reason] = 0, now
}
