package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanClient(row pgx.Row) (keyward.Client, error) {
	var c keyward.Client
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, sqlstore.JSON{Dst: &c.RedirectURIs}, sqlstore.JSON{Dst: &c.GrantTypes},
		sqlstore.JSON{Dst: &c.Scopes}, &c.Audience, &c.JWKSURL, bytea{&c.JWKS}, &c.IDTokenSignedResponseAlg, tsz{&c.CreatedAt},
		sqlstore.JSON{Dst: &c.PostLogoutRedirectURIs}, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.RequireDPoP)
	return c, notFound(err)
}

// clientArgs returns the columns of sqlstore.ClientColumns for c.
func clientArgs(c keyward.Client) ([]any, error) {
	lists := make([]string, 4)
	for i, l := range [][]string{c.RedirectURIs, c.GrantTypes, c.Scopes, c.PostLogoutRedirectURIs} {
		if l == nil {
			l = []string{}
		}
		var err error
		if lists[i], err = sqlstore.EncodeJSON(l); err != nil {
			return nil, err
		}
	}
	return []any{c.ID, c.Name, c.SecretHash, c.Public, lists[0], lists[1], lists[2], c.Audience, c.JWKSURL,
		optBytes(c.JWKS), c.IDTokenSignedResponseAlg, keyward.StoredTime(c.CreatedAt), lists[3], c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.RequireDPoP}, nil
}

// CreateClient implements [keyward.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c keyward.Client) error {
	if c.ID == "" {
		return fmt.Errorf("create client: empty id: %w", keyward.ErrInvalid)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.clock()
	}
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO clients (`+sqlstore.ClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, args...)
	if isUnique(err) {
		return fmt.Errorf("create client %q: %w", c.ID, keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return nil
}

// GetClient implements [keyward.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (keyward.Client, error) {
	c, err := scanClient(s.db.QueryRow(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return keyward.Client{}, fmt.Errorf("get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients implements [keyward.ClientStore].
func (s *Store) ListClients(ctx context.Context) ([]keyward.Client, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	clients, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Client, error) { return scanClient(row) })
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return clients, nil
}

// UpdateClient implements [keyward.ClientStore].
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*keyward.Client) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		c, err := scanClient(tx.QueryRow(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("id changed: %w", keyward.ErrInvalid)
		}
		args, err := clientArgs(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE clients SET name = $2, secret_hash = $3, public = $4, redirect_uris = $5,
			grant_types = $6, scopes = $7, audience = $8, jwks_url = $9, jwks = $10, id_token_signed_response_alg = $11,
			created_at = $12, post_logout_redirect_uris = $13,
			backchannel_logout_uri = $14, backchannel_logout_session_required = $15, require_dpop = $16 WHERE id = $1`, args...)
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update client %q: %w", id, err)
	}
	return nil
}

// DeleteClient implements [keyward.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return sqlstore.CmpErr(err, keyward.ErrNotFound)
		}
		for _, q := range []string{
			`DELETE FROM refresh_tokens WHERE client_id = $1`,
			`DELETE FROM auth_codes WHERE client_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	return nil
}
