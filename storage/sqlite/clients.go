package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanClient(sc scanner) (keyward.Client, error) {
	var c keyward.Client
	err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, sqlstore.JSON{Dst: &c.RedirectURIs}, sqlstore.JSON{Dst: &c.GrantTypes},
		sqlstore.JSON{Dst: &c.Scopes}, &c.Audience, &c.JWKSURL, blob{&c.JWKS}, &c.IDTokenSignedResponseAlg, usec{&c.CreatedAt},
		sqlstore.JSON{Dst: &c.PostLogoutRedirectURIs}, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.RequireDPoP)
	return c, notFound(err)
}

// clientArgs returns the columns of sqlstore.ClientColumns for c.
func clientArgs(c keyward.Client) ([]any, error) {
	lists := make([]string, 4)
	for i, l := range [][]string{c.RedirectURIs, c.GrantTypes, c.Scopes, c.PostLogoutRedirectURIs} {
		var err error
		if lists[i], err = sqlstore.EncodeJSON(l); err != nil {
			return nil, err
		}
	}
	return []any{c.ID, c.Name, c.SecretHash, c.Public, lists[0], lists[1], lists[2], c.Audience, c.JWKSURL,
		optBlob(c.JWKS), c.IDTokenSignedResponseAlg, micros(c.CreatedAt), lists[3], c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.RequireDPoP}, nil
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
	_, err = s.w.ExecContext(ctx, `INSERT INTO clients (`+sqlstore.ClientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
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
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return keyward.Client{}, fmt.Errorf("get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients implements [keyward.ClientStore].
func (s *Store) ListClients(ctx context.Context) ([]keyward.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out, err := collect(rows, scanClient)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// UpdateClient implements [keyward.ClientStore].
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*keyward.Client) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = ?`, id))
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
		_, err = tx.ExecContext(ctx, `UPDATE clients SET name = ?, secret_hash = ?, public = ?, redirect_uris = ?,
			grant_types = ?, scopes = ?, audience = ?, jwks_url = ?, jwks = ?, id_token_signed_response_alg = ?,
			created_at = ?, post_logout_redirect_uris = ?,
			backchannel_logout_uri = ?, backchannel_logout_session_required = ?, require_dpop = ? WHERE id = ?`, append(args[1:], id)...)
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update client %q: %w", id, err)
	}
	return nil
}

// DeleteClient implements [keyward.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return sqlstore.CmpErr(err, keyward.ErrNotFound)
		}
		for _, q := range []string{
			`DELETE FROM refresh_tokens WHERE client_id = ?`,
			`DELETE FROM auth_codes WHERE client_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
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
