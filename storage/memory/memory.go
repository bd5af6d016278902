// Package memory is the reference [keyward.Store]: everything is kept in maps
// behind one mutex and lost on Close. It is meant for tests and for trying the
// issuer out; it behaves exactly as the SQL backends do, down to the precision
// of times and the JSON round trip of user attributes.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.Store = (*Store)(nil)

// Config configures a [Store].
type Config struct {
	// Now is the clock used for the timestamps the store sets itself
	// (CreatedAt, UpdatedAt, ...). Zero means time.Now.
	Now func() time.Time
}

// Store is an in-memory [keyward.Store]. Its zero value is not usable; create
// one with [New].
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	users    map[string]keyward.User
	clients  map[string]keyward.Client
	keys     map[string]keyward.SigningKey
	refresh  map[string]keyward.RefreshToken
	codes    map[string]keyward.AuthCode
	sessions map[string]keyward.Session
	revoked  map[string]keyward.RevokedToken
	userRevs map[string]time.Time
	jtis     map[jtiKey]time.Time
}

type jtiKey struct{ issuer, jti string }

// New returns an empty Store.
func New(cfg Config) *Store {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:      now,
		users:    make(map[string]keyward.User),
		clients:  make(map[string]keyward.Client),
		keys:     make(map[string]keyward.SigningKey),
		refresh:  make(map[string]keyward.RefreshToken),
		codes:    make(map[string]keyward.AuthCode),
		sessions: make(map[string]keyward.Session),
		revoked:  make(map[string]keyward.RevokedToken),
		userRevs: make(map[string]time.Time),
		jtis:     make(map[jtiKey]time.Time),
	}
}

// Ping implements [keyward.Store]; it always succeeds.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// Close implements [keyward.Store]; it does nothing.
func (s *Store) Close() error { return nil }

// clock returns the store's current time as it would be stored.
func (s *Store) clock() time.Time { return normTime(s.now()) }

// normTime gives t the precision and location the SQL backends give it.
func normTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func cloneStrings(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}

func cloneBytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return bytes.Clone(v)
}

// cloneAttributes deep-copies a through JSON, as the SQL backends store it.
func cloneAttributes(a map[string]any) (map[string]any, error) {
	if len(a) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode attributes: %w: %v", keyward.ErrInvalid, err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	return out, nil
}

// --- users

func normUser(u keyward.User) (keyward.User, error) {
	attrs, err := cloneAttributes(u.Attributes)
	if err != nil {
		return keyward.User{}, err
	}
	u.Attributes = attrs
	u.Roles = cloneStrings(u.Roles)
	u.CreatedAt = normTime(u.CreatedAt)
	u.UpdatedAt = normTime(u.UpdatedAt)
	return u, nil
}

func copyUser(u keyward.User) keyward.User {
	u.Roles = cloneStrings(u.Roles)
	u.Attributes, _ = cloneAttributes(u.Attributes) // stored attributes always encode
	return u
}

func (s *Store) usernameTaken(username, exceptID string) bool {
	for _, u := range s.users {
		if u.Username == username && u.ID != exceptID {
			return true
		}
	}
	return false
}

// CreateUser implements [keyward.UserStore].
func (s *Store) CreateUser(ctx context.Context, u keyward.User) error {
	if u.ID == "" || u.Username == "" {
		return fmt.Errorf("create user: empty id or username: %w", keyward.ErrInvalid)
	}
	u, err := normUser(u)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok || s.usernameTaken(u.Username, "") {
		return fmt.Errorf("create user %q: %w", u.Username, keyward.ErrConflict)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.clock()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	s.users[u.ID] = u
	return nil
}

// GetUser implements [keyward.UserStore].
func (s *Store) GetUser(ctx context.Context, id string) (keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return keyward.User{}, fmt.Errorf("get user %q: %w", id, keyward.ErrNotFound)
	}
	return copyUser(u), nil
}

// GetUserByName implements [keyward.UserStore].
func (s *Store) GetUserByName(ctx context.Context, username string) (keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Username == username {
			return copyUser(u), nil
		}
	}
	return keyward.User{}, fmt.Errorf("get user %q: %w", username, keyward.ErrNotFound)
}

// ListUsers implements [keyward.UserStore].
func (s *Store) ListUsers(ctx context.Context) ([]keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keyward.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, copyUser(u))
	}
	slices.SortFunc(out, func(a, b keyward.User) int { return cmp.Compare(a.Username, b.Username) })
	return out, nil
}

// UpdateUser implements [keyward.UserStore].
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*keyward.User) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return fmt.Errorf("update user %q: %w", id, keyward.ErrNotFound)
	}
	u := copyUser(old)
	if err := fn(&u); err != nil {
		return noChange(err)
	}
	if u.ID != id || u.Username == "" {
		return fmt.Errorf("update user %q: id changed or username empty: %w", id, keyward.ErrInvalid)
	}
	u, err := normUser(u)
	if err != nil {
		return fmt.Errorf("update user %q: %w", id, err)
	}
	if s.usernameTaken(u.Username, id) {
		return fmt.Errorf("update user %q: username %q: %w", id, u.Username, keyward.ErrConflict)
	}
	if u.UpdatedAt.Equal(old.UpdatedAt) {
		u.UpdatedAt = s.clock()
	}
	s.users[id] = u
	return nil
}

// noChange turns ErrNoChange (possibly wrapped) into nil.
func noChange(err error) error {
	if errors.Is(err, keyward.ErrNoChange) {
		return nil
	}
	return err
}

// DeleteUser implements [keyward.UserStore].
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return fmt.Errorf("delete user %q: %w", id, keyward.ErrNotFound)
	}
	delete(s.users, id)
	maps.DeleteFunc(s.sessions, func(_ string, v keyward.Session) bool { return v.UserID == id })
	maps.DeleteFunc(s.refresh, func(_ string, v keyward.RefreshToken) bool { return v.UserID == id })
	maps.DeleteFunc(s.codes, func(_ string, v keyward.AuthCode) bool { return v.UserID == id })
	return nil
}

// --- clients

func normClient(c keyward.Client) keyward.Client {
	c.RedirectURIs = cloneStrings(c.RedirectURIs)
	c.GrantTypes = cloneStrings(c.GrantTypes)
	c.Scopes = cloneStrings(c.Scopes)
	c.JWKS = cloneBytes(c.JWKS)
	c.CreatedAt = normTime(c.CreatedAt)
	return c
}

// CreateClient implements [keyward.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c keyward.Client) error {
	if c.ID == "" {
		return fmt.Errorf("create client: empty id: %w", keyward.ErrInvalid)
	}
	c = normClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("create client %q: %w", c.ID, keyward.ErrConflict)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.clock()
	}
	s.clients[c.ID] = c
	return nil
}

// GetClient implements [keyward.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (keyward.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return keyward.Client{}, fmt.Errorf("get client %q: %w", id, keyward.ErrNotFound)
	}
	return normClient(c), nil
}

// ListClients implements [keyward.ClientStore].
func (s *Store) ListClients(ctx context.Context) ([]keyward.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keyward.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, normClient(c))
	}
	slices.SortFunc(out, func(a, b keyward.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateClient implements [keyward.ClientStore].
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*keyward.Client) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("update client %q: %w", id, keyward.ErrNotFound)
	}
	c := normClient(old)
	if err := fn(&c); err != nil {
		return noChange(err)
	}
	if c.ID != id {
		return fmt.Errorf("update client %q: id changed: %w", id, keyward.ErrInvalid)
	}
	s.clients[id] = normClient(c)
	return nil
}

// DeleteClient implements [keyward.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("delete client %q: %w", id, keyward.ErrNotFound)
	}
	delete(s.clients, id)
	maps.DeleteFunc(s.refresh, func(_ string, v keyward.RefreshToken) bool { return v.ClientID == id })
	maps.DeleteFunc(s.codes, func(_ string, v keyward.AuthCode) bool { return v.ClientID == id })
	return nil
}

// --- signing keys

func normKey(k keyward.SigningKey) keyward.SigningKey {
	k.PrivateKey = cloneBytes(k.PrivateKey)
	k.PublicJWK = cloneBytes(k.PublicJWK)
	k.CreatedAt = normTime(k.CreatedAt)
	k.ActivateAt = normTime(k.ActivateAt)
	k.RetireAt = normTime(k.RetireAt)
	k.RemoveAt = normTime(k.RemoveAt)
	return k
}

func compareKeys(a, b keyward.SigningKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// listKeys returns copies of the keys in ListKeys order; s.mu must be held.
func (s *Store) listKeys() []keyward.SigningKey {
	out := make([]keyward.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, normKey(k))
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// ListKeys implements [keyward.KeyStore].
func (s *Store) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listKeys(), nil
}

// UpdateKeys implements [keyward.KeyStore].
func (s *Store) UpdateKeys(ctx context.Context, fn func(current []keyward.SigningKey) ([]keyward.SigningKey, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := fn(s.listKeys())
	if err != nil {
		return noChange(err)
	}
	now := s.clock()
	keys := make(map[string]keyward.SigningKey, len(next))
	for _, k := range next {
		if k.ID == "" || !k.State.Valid() || !k.Purpose.Valid() {
			return fmt.Errorf("update keys: key %q: empty id, invalid state %q or invalid purpose %q: %w", k.ID, k.State, k.Purpose, keyward.ErrInvalid)
		}
		if _, dup := keys[k.ID]; dup {
			return fmt.Errorf("update keys: duplicate key id %q: %w", k.ID, keyward.ErrInvalid)
		}
		k = normKey(k)
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
		}
		keys[k.ID] = k
	}
	s.keys = keys
	return nil
}

// --- refresh tokens

func normRefresh(t keyward.RefreshToken) keyward.RefreshToken {
	t.Hash = cloneBytes(t.Hash)
	t.Audience = cloneStrings(t.Audience)
	t.IssuedAt = normTime(t.IssuedAt)
	t.ExpiresAt = normTime(t.ExpiresAt)
	t.UsedAt = normTime(t.UsedAt)
	t.RevokedAt = normTime(t.RevokedAt)
	return t
}

// putRefresh validates and stores a new token; s.mu must be held.
func (s *Store) putRefresh(t keyward.RefreshToken, now time.Time) error {
	if len(t.Hash) == 0 || t.FamilyID == "" {
		return fmt.Errorf("empty hash or family id: %w", keyward.ErrInvalid)
	}
	if _, ok := s.refresh[string(t.Hash)]; ok {
		return keyward.ErrConflict
	}
	t = normRefresh(t)
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	s.refresh[string(t.Hash)] = t
	return nil
}

// CreateRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) CreateRefreshToken(ctx context.Context, t keyward.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.putRefresh(t, s.clock()); err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next keyward.RefreshToken, now time.Time) (keyward.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return keyward.RefreshToken{}, err
	}
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.refresh[string(oldHash)]
	switch {
	case !ok:
		return keyward.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", keyward.ErrNotFound)
	case !old.UsedAt.IsZero():
		s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.FamilyID == old.FamilyID }, now)
		return normRefresh(s.refresh[string(oldHash)]), fmt.Errorf("rotate refresh token: %w", keyward.ErrRefreshReused)
	case !old.RevokedAt.IsZero():
		return normRefresh(old), fmt.Errorf("rotate refresh token: %w", keyward.ErrRevoked)
	case !now.Before(old.ExpiresAt):
		return normRefresh(old), fmt.Errorf("rotate refresh token: %w", keyward.ErrExpired)
	}
	next.FamilyID = old.FamilyID
	next.ExpiresAt = old.ExpiresAt
	next.UserID = old.UserID
	next.ClientID = old.ClientID
	next.SessionID = old.SessionID
	if len(next.Hash) > 0 {
		if _, ok := s.refresh[string(next.Hash)]; ok {
			return normRefresh(old), fmt.Errorf("rotate refresh token: next: %w", keyward.ErrConflict)
		}
	}
	if err := s.putRefresh(next, now); err != nil {
		return normRefresh(old), fmt.Errorf("rotate refresh token: next: %w", err)
	}
	old.UsedAt = now
	s.refresh[string(oldHash)] = old
	return normRefresh(old), nil
}

// revokeRefresh revokes at now the tokens match selects; s.mu must be held.
func (s *Store) revokeRefresh(match func(keyward.RefreshToken) bool, now time.Time) {
	for h, t := range s.refresh {
		if match(t) && t.RevokedAt.IsZero() {
			t.RevokedAt = now
			s.refresh[h] = t
		}
	}
}

// GetRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (keyward.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return keyward.RefreshToken{}, fmt.Errorf("get refresh token: %w", keyward.ErrNotFound)
	}
	return normRefresh(t), nil
}

// RevokeRefreshFamily implements [keyward.RefreshTokenStore].
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.FamilyID == familyID }, normTime(now))
	return nil
}

// RevokeSessionRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) error {
	if sessionID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.SessionID == sessionID }, normTime(now))
	return nil
}

// RevokeUserRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	if userID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.UserID == userID }, normTime(now))
	return nil
}

// DeleteExpiredRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.refresh)
	maps.DeleteFunc(s.refresh, func(_ string, t keyward.RefreshToken) bool { return !t.ExpiresAt.After(now) })
	return n - len(s.refresh), nil
}

// --- authorization codes

func normCode(c keyward.AuthCode) keyward.AuthCode {
	c.Hash = cloneBytes(c.Hash)
	c.AuthTime = normTime(c.AuthTime)
	c.ExpiresAt = normTime(c.ExpiresAt)
	c.UsedAt = normTime(c.UsedAt)
	return c
}

// CreateAuthCode implements [keyward.AuthCodeStore].
func (s *Store) CreateAuthCode(ctx context.Context, c keyward.AuthCode) error {
	if len(c.Hash) == 0 {
		return fmt.Errorf("create auth code: empty hash: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[string(c.Hash)]; ok {
		return fmt.Errorf("create auth code: %w", keyward.ErrConflict)
	}
	s.codes[string(c.Hash)] = normCode(c)
	return nil
}

// ConsumeAuthCode implements [keyward.AuthCodeStore].
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (keyward.AuthCode, error) {
	if err := ctx.Err(); err != nil {
		return keyward.AuthCode{}, err
	}
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[string(hash)]
	switch {
	case !ok:
		return keyward.AuthCode{}, fmt.Errorf("consume auth code: %w", keyward.ErrNotFound)
	case !c.UsedAt.IsZero():
		return normCode(c), fmt.Errorf("consume auth code: %w", keyward.ErrCodeReused)
	case !now.Before(c.ExpiresAt):
		return normCode(c), fmt.Errorf("consume auth code: %w", keyward.ErrExpired)
	}
	c.UsedAt = now
	s.codes[string(hash)] = c
	return normCode(c), nil
}

// DeleteExpiredAuthCodes implements [keyward.AuthCodeStore].
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.codes)
	maps.DeleteFunc(s.codes, func(_ string, c keyward.AuthCode) bool { return !c.ExpiresAt.After(now) })
	return n - len(s.codes), nil
}

// --- sessions

func normSession(v keyward.Session) keyward.Session {
	v.CookieHash = cloneBytes(v.CookieHash)
	v.CreatedAt = normTime(v.CreatedAt)
	v.AuthTime = normTime(v.AuthTime)
	v.ExpiresAt = normTime(v.ExpiresAt)
	v.RevokedAt = normTime(v.RevokedAt)
	return v
}

// cookieTaken reports whether a session other than id has the cookie hash.
// Sessions are few in the tests this store serves, so it scans them.
func (s *Store) cookieTaken(hash []byte, id string) bool {
	for _, v := range s.sessions {
		if v.ID != id && bytes.Equal(v.CookieHash, hash) {
			return true
		}
	}
	return false
}

// CreateSession implements [keyward.SessionStore].
func (s *Store) CreateSession(ctx context.Context, v keyward.Session) error {
	if v.ID == "" || len(v.CookieHash) == 0 {
		return fmt.Errorf("create session: empty id or cookie hash: %w", keyward.ErrInvalid)
	}
	v = normSession(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[v.ID]; ok || s.cookieTaken(v.CookieHash, v.ID) {
		return fmt.Errorf("create session: %w", keyward.ErrConflict)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.clock()
	}
	if v.AuthTime.IsZero() {
		v.AuthTime = v.CreatedAt
	}
	s.sessions[v.ID] = v
	return nil
}

// GetSession implements [keyward.SessionStore].
func (s *Store) GetSession(ctx context.Context, id string) (keyward.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[id]
	if !ok {
		return keyward.Session{}, fmt.Errorf("get session: %w", keyward.ErrNotFound)
	}
	return normSession(v), nil
}

// GetSessionByCookie implements [keyward.SessionStore].
func (s *Store) GetSessionByCookie(ctx context.Context, hash []byte) (keyward.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(hash) > 0 {
		for _, v := range s.sessions {
			if bytes.Equal(v.CookieHash, hash) {
				return normSession(v), nil
			}
		}
	}
	return keyward.Session{}, fmt.Errorf("get session by cookie: %w", keyward.ErrNotFound)
}

// UpdateSession implements [keyward.SessionStore].
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*keyward.Session) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("update session %q: %w", id, keyward.ErrNotFound)
	}
	v := normSession(old)
	if err := fn(&v); err != nil {
		return noChange(err)
	}
	if v.ID != id || v.UserID != old.UserID || !v.CreatedAt.Equal(old.CreatedAt) || !v.RevokedAt.Equal(old.RevokedAt) || len(v.CookieHash) == 0 {
		return fmt.Errorf("update session %q: id, user, creation or revocation changed, or cookie hash empty: %w", id, keyward.ErrInvalid)
	}
	if s.cookieTaken(v.CookieHash, id) {
		return fmt.Errorf("update session %q: cookie hash: %w", id, keyward.ErrConflict)
	}
	old.CookieHash = cloneBytes(v.CookieHash)
	old.AuthTime = normTime(v.AuthTime)
	old.ExpiresAt = normTime(v.ExpiresAt)
	s.sessions[id] = old
	return nil
}

// RevokeSession implements [keyward.SessionStore].
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("revoke session: %w", keyward.ErrNotFound)
	}
	if v.RevokedAt.IsZero() {
		v.RevokedAt = normTime(now)
		s.sessions[id] = v
	}
	return nil
}

// RevokeUserSessions implements [keyward.SessionStore].
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range s.sessions {
		if v.UserID == userID && v.RevokedAt.IsZero() {
			v.RevokedAt = now
			s.sessions[id] = v
		}
	}
	return nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	maps.DeleteFunc(s.sessions, func(_ string, v keyward.Session) bool { return !v.ExpiresAt.After(now) })
	return n - len(s.sessions), nil
}

// --- revocations

// RevokeAccessToken implements [keyward.RevocationStore].
func (s *Store) RevokeAccessToken(ctx context.Context, t keyward.RevokedToken) error {
	if t.JTI == "" {
		return fmt.Errorf("revoke access token: empty jti: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revoked[t.JTI]; ok {
		return nil
	}
	t.ExpiresAt = normTime(t.ExpiresAt)
	t.RevokedAt = normTime(t.RevokedAt)
	if t.RevokedAt.IsZero() {
		t.RevokedAt = s.clock()
	}
	s.revoked[t.JTI] = t
	return nil
}

// IsAccessTokenRevoked implements [keyward.RevocationStore].
func (s *Store) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[jti]
	return ok, nil
}

// ListRevokedTokens implements [keyward.RevocationStore].
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []keyward.RevokedToken{}
	for _, t := range s.revoked {
		if t.ExpiresAt.After(now) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b keyward.RevokedToken) int { return cmp.Compare(a.JTI, b.JTI) })
	return out, nil
}

// RevokeUser implements [keyward.RevocationStore].
func (s *Store) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	if r.UserID == "" {
		return fmt.Errorf("revoke user: empty user id: %w", keyward.ErrInvalid)
	}
	before := normTime(r.Before)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.userRevs[r.UserID]; !ok || before.After(old) {
		s.userRevs[r.UserID] = before
	}
	return nil
}

// ListUserRevocations implements [keyward.RevocationStore].
func (s *Store) ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []keyward.UserRevocation{}
	for id, before := range s.userRevs {
		out = append(out, keyward.UserRevocation{UserID: id, Before: before})
	}
	slices.SortFunc(out, func(a, b keyward.UserRevocation) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// DeleteUserRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteUserRevocations(ctx context.Context, horizon time.Time) (int, error) {
	horizon = normTime(horizon)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.userRevs)
	maps.DeleteFunc(s.userRevs, func(_ string, before time.Time) bool { return !before.After(horizon) })
	return n - len(s.userRevs), nil
}

// UseJTI implements [keyward.RevocationStore].
func (s *Store) UseJTI(ctx context.Context, issuer, jti string, exp time.Time) error {
	if jti == "" {
		return fmt.Errorf("use jti: empty jti: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := jtiKey{issuer, jti}
	if _, ok := s.jtis[k]; ok {
		return fmt.Errorf("use jti: %w", keyward.ErrConflict)
	}
	s.jtis[k] = normTime(exp)
	return nil
}

// DeleteExpiredRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.revoked) + len(s.jtis)
	maps.DeleteFunc(s.revoked, func(_ string, t keyward.RevokedToken) bool { return !t.ExpiresAt.After(now) })
	maps.DeleteFunc(s.jtis, func(_ jtiKey, exp time.Time) bool { return !exp.After(now) })
	return n - len(s.revoked) - len(s.jtis), nil
}
