// Package memory is the reference [keyward.Store]: everything is kept in maps
// behind one mutex and lost on Close. It is meant for tests and for trying the
// issuer out; it behaves exactly as the SQL backends do, down to the precision
// of times and the JSON round trip of user attributes.
//
// It owns the in-memory state and nothing else: the rules every backend
// applies (what a valid key set is, how a refresh token's successor inherits
// its family, when a code or a token can still be used) are package
// keyward's, called here as the SQL backends call them. The files follow the
// SQL backends' layout: users.go, clients.go, keys.go, tokens.go (refresh
// tokens and authorization codes), sessions.go and revocations.go.
//
// It imports package keyward and the standard library only: never a SQL
// driver, storage/internal/sqlstore, another backend, the issuer or the
// server.
package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	mu      sync.Mutex
	users   map[string]keyward.User
	clients map[string]keyward.Client
	keys    map[string]keyward.SigningKey
	refresh map[string]keyward.RefreshToken
	// refreshByFamily indexes the refresh tokens' hashes by FamilyID, so
	// that revoking a family costs the size of the family, not of the store.
	refreshByFamily map[string]map[string]struct{}
	families        map[string]time.Time // revoked refresh-token families, when revoked
	codes           map[string]keyward.AuthCode
	sessions        map[string]keyward.Session
	revoked         map[string]keyward.RevokedToken
	userRevs        map[string]time.Time
	grants          map[grantKey]keyward.RevokedGrant
	// byUser indexes grants by their UserID, holding a copy of each, so
	// that counting a user's grants reads no other map.
	byUser  map[string]map[grantKey]keyward.RevokedGrant
	changes []keyward.RevocationChange // the revocation log, in Seq order
	head    int64                      // the log's latest Seq
	floor   int64                      // the log's floor
	jtis    map[jtiKey]time.Time
	// sessionClients and outbox hold the back-channel logout state.
	sessionClients map[sessionClient]struct{}
	outbox         map[int64]keyward.BackchannelLogout
	outboxSeq      int64

	// revokedBySub indexes revoked access tokens by their Subject, so
	// that counting a subject's tokens reads no other map.
	revokedBySub map[string]map[string]keyward.RevokedToken
	// totp and recovery hold the users' second factors by user ID.
	totp     map[string]keyward.TOTP
	recovery map[string][]keyward.RecoveryCode
	// passkeys are keyed by credential ID, ceremonies by hash.
	passkeys   map[string]keyward.Passkey
	ceremonies map[string]keyward.PasskeyCeremony
	// buckets holds the throttle's token buckets, under its own mutex.
	buckets buckets
}

type jtiKey struct{ issuer, jti string }

// New returns an empty Store.
func New(cfg Config) *Store {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:             now,
		users:           make(map[string]keyward.User),
		clients:         make(map[string]keyward.Client),
		keys:            make(map[string]keyward.SigningKey),
		refresh:         make(map[string]keyward.RefreshToken),
		refreshByFamily: make(map[string]map[string]struct{}),
		families:        make(map[string]time.Time),
		codes:           make(map[string]keyward.AuthCode),
		sessions:        make(map[string]keyward.Session),
		revoked:         make(map[string]keyward.RevokedToken),
		userRevs:        make(map[string]time.Time),
		grants:          make(map[grantKey]keyward.RevokedGrant),
		byUser:          make(map[string]map[grantKey]keyward.RevokedGrant),
		revokedBySub:    make(map[string]map[string]keyward.RevokedToken),
		jtis:            make(map[jtiKey]time.Time),
		sessionClients:  make(map[sessionClient]struct{}),
		outbox:          make(map[int64]keyward.BackchannelLogout),
		totp:            make(map[string]keyward.TOTP),
		recovery:        make(map[string][]keyward.RecoveryCode),
		passkeys:        make(map[string]keyward.Passkey),
		ceremonies:      make(map[string]keyward.PasskeyCeremony),
	}
}

// Ping implements [keyward.Store]; it always succeeds.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// Close implements [keyward.Store]; it does nothing.
func (s *Store) Close() error { return nil }

// clock returns the store's current time as it would be stored.
func (s *Store) clock() time.Time { return keyward.StoredTime(s.now()) }

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
