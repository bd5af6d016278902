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
// gateway) before the ones past it only poll. Once the server holds
// [MaxRevocationWaiters], networks holding fewer take slots from those
// holding the most ([Server.holdRevocation]), so filling the server takes
// that many networks, not 64.
const MaxRevocationWaitersPerClient = 64

// revocationLogEvery is how often at most a server logs
// revocation_hold_refused for each reason.
const revocationLogEvery = time.Minute

// Reasons for a refused hold, the reason of revocation_hold_refused.
const (
	holdRefusedClient = "client_cap"
	holdRefusedServer = "server_cap"
	// holdPreempted is a held long-poll answered early to make room for a
	// network holding fewer ([Server.holdRevocation]).
	holdPreempted = "preempted"
)

// revocationHolds counts the long-polls a server holds by client network;
// a network has an entry only while it holds one, so there are at most
// [MaxRevocationWaiters] entries. Its total is [Server.waiters]. The
// networks are also filed by how many they hold, so that the one holding
// the most is found at once when the server is full.
type revocationHolds struct {
	mu       sync.Mutex
	byClient map[string]*clientHolds
	// levels[n] holds the networks that hold n long-polls (n ≥ 1); top is
	// the highest n with a network, 0 when none holds any.
	levels []map[*clientHolds]struct{}
	top    int
	// refused counts the holds refused by reason since its last log line;
	// loggedAt is when that line was written.
	refused  map[string]int
	loggedAt map[string]time.Time
}

// clientHolds are the long-polls one client network holds.
type clientHolds struct {
	network string
	holds   map[*revocationHold]struct{}
}

// revocationHold is one held long-poll; end is closed when it is
// preempted.
type revocationHold struct {
	client  *clientHolds
	end     chan struct{}
	dropped bool // no longer counted: released or preempted
}

// holdRevocation takes a long-poll slot for the client that sent r. It
// returns the function that gives the slot back and a channel closed when
// the long-poll is to be answered at once to make room for another
// network's; or, when the client's network already holds
// [Config.RevocationWaitersPerClient] long-polls, or the server
// [MaxRevocationWaiters] and no network holds two more than the client's,
// nil: the request is then answered at once.
//
// When the server is full, a network holding the most long-polls, if that
// is at least two more than the client's network holds, gives up one of
// them to it: the slots are shared out as evenly as the networks asking for
// them, so a new network gets a long-poll held until [MaxRevocationWaiters]
// networks hold one each, where the cap per network alone would let 64
// networks (4096 / 64) take every slot. The preempted long-poll is answered
// with no change; its verifier asks again at once and, its network now
// holding no more than the others, polls.
func (s *Server) holdRevocation(r *http.Request) (release func(), preempted <-chan struct{}) {
	client := issuer.ClientNetwork(clientAddr(r, s.cfg.TrustedProxies))
	h := &s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	limit := s.cfg.RevocationWaitersPerClient
	if limit == 0 {
		limit = MaxRevocationWaitersPerClient
	}
	c := h.byClient[client]
	held := 0
	if c != nil {
		held = len(c.holds)
	}
	if held >= limit {
		s.refuseHold(r.Context(), holdRefusedClient, client)
		return nil, nil
	}
	if s.waiters.Load() >= MaxRevocationWaiters {
		if h.top < held+2 {
			s.refuseHold(r.Context(), holdRefusedServer, client)
			return nil, nil
		}
		var victim *revocationHold
		for most := range h.levels[h.top] {
			for hd := range most.holds {
				victim = hd
				break
			}
			break
		}
		h.drop(s, victim)
		close(victim.end)
		s.refuseHold(r.Context(), holdPreempted, victim.client.network)
	}
	if c == nil {
		if h.byClient == nil {
			h.byClient = make(map[string]*clientHolds)
		}
		c = &clientHolds{network: client, holds: make(map[*revocationHold]struct{})}
		h.byClient[client] = c
	}
	hd := &revocationHold{client: c, end: make(chan struct{})}
	h.file(c, held, held+1)
	c.holds[hd] = struct{}{}
	s.waiters.Add(1)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !hd.dropped {
			h.drop(s, hd)
		}
	}, hd.end
}

// drop stops counting hd, a long-poll of s counted until now. Called with
// h.mu held.
func (h *revocationHolds) drop(s *Server, hd *revocationHold) {
	hd.dropped = true
	c := hd.client
	n := len(c.holds)
	delete(c.holds, hd)
	h.file(c, n, n-1)
	if n == 1 {
		delete(h.byClient, c.network)
	}
	s.waiters.Add(-1)
}

// file moves c, which held from long-polls, to the level of those holding
// to. Called with h.mu held.
func (h *revocationHolds) file(c *clientHolds, from, to int) {
	if from > 0 {
		delete(h.levels[from], c)
	}
	if to > 0 {
		for len(h.levels) <= to {
			h.levels = append(h.levels, nil)
		}
		if h.levels[to] == nil {
			h.levels[to] = make(map[*clientHolds]struct{})
		}
		h.levels[to][c] = struct{}{}
		h.top = max(h.top, to)
	}
	for h.top > 0 && len(h.levels[h.top]) == 0 {
		h.top--
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
