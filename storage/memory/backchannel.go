package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// sessionClient is a client recorded in a session by AddSessionClient.
type sessionClient struct{ session, client string }

// AddSessionClient implements [keyward.BackchannelStore].
func (s *Store) AddSessionClient(ctx context.Context, sessionID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sessionID]; ok {
		s.sessionClients[sessionClient{sessionID, clientID}] = struct{}{}
	}
	return nil
}

// pruneSessionClients forgets the clients recorded in sessions that no
// longer exist, as the SQL backends' foreign key does. s.mu must be held.
func (s *Store) pruneSessionClients() {
	for k := range s.sessionClients {
		if _, ok := s.sessions[k.session]; !ok {
			delete(s.sessionClients, k)
		}
	}
}

// QueueBackchannelLogouts implements [keyward.BackchannelStore].
func (s *Store) QueueBackchannelLogouts(ctx context.Context, userID, sessionID string, ended time.Time, limit int) (queued, dropped int, err error) {
	ended = keyward.StoredTime(ended)
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []keyward.BackchannelLogout
	for k := range s.sessionClients {
		v, ok := s.sessions[k.session]
		switch {
		case !ok, sessionID != "" && v.ID != sessionID, sessionID == "" && v.UserID != userID,
			!v.RevokedAt.Equal(ended), !v.ExpiresAt.After(ended):
			continue
		}
		if c, ok := s.clients[k.client]; !ok || c.BackchannelLogoutURI == "" {
			continue
		}
		due = append(due, keyward.BackchannelLogout{ClientID: k.client, UserID: v.UserID, SessionID: v.ID, CreatedAt: ended, NextAttemptAt: ended})
	}
	slices.SortFunc(due, func(a, b keyward.BackchannelLogout) int {
		return cmp.Or(cmp.Compare(a.SessionID, b.SessionID), cmp.Compare(a.ClientID, b.ClientID))
	})
	for _, l := range due {
		if len(s.outbox) >= limit {
			dropped++
			continue
		}
		s.outboxSeq++
		l.ID = s.outboxSeq
		s.outbox[l.ID] = l
		queued++
	}
	return queued, dropped, nil
}

// ClaimBackchannelLogouts implements [keyward.BackchannelStore].
func (s *Store) ClaimBackchannelLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keyward.BackchannelLogout, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keyward.BackchannelLogout
	for _, l := range s.outbox {
		if !l.NextAttemptAt.After(now) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b keyward.BackchannelLogout) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[:max(limit, 0)]
	}
	for i, l := range out {
		l.Attempts++
		l.NextAttemptAt = keyward.StoredTime(now.Add(lease))
		s.outbox[l.ID] = l
		out[i] = l
	}
	return out, nil
}

// RetryBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) RetryBackchannelLogout(ctx context.Context, id int64, next time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.outbox[id]; ok {
		l.NextAttemptAt = keyward.StoredTime(next)
		s.outbox[id] = l
	}
	return nil
}

// DeleteBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) DeleteBackchannelLogout(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.outbox, id)
	return nil
}
