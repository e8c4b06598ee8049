package authn

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tables are the tables this package keeps in schema public of a tenant
// database. Tenants may read them and join them with their own tables.
var Tables = []string{"auth_users", "auth_tokens"}

// migrations evolve the auth tables. Each runs once per database, in order,
// inside one transaction that holds lockKey; the version reached is kept in
// public.auth_schema_migrations. Append new versions; never edit a shipped
// one. Each statement is idempotent (IF NOT EXISTS), so a version can be
// re-applied when a tenant dropped a table (see ensure).
var migrations = []string{
	1: `
CREATE TABLE IF NOT EXISTS public.auth_users (
	id             uuid PRIMARY KEY,
	email          text NOT NULL,
	password_hash  text,
	name           text,
	avatar_url     text,
	metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
	email_verified boolean NOT NULL DEFAULT false,
	verified_at    timestamptz,
	login_count    bigint NOT NULL DEFAULT 0,
	last_login_at  timestamptz,
	created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX IF NOT EXISTS auth_users_email_key ON public.auth_users (pg_catalog.lower(email));
CREATE INDEX IF NOT EXISTS auth_users_created_idx ON public.auth_users (created_at);
CREATE TABLE IF NOT EXISTS public.auth_tokens (
	token_hash   bytea PRIMARY KEY,
	purpose      text NOT NULL CHECK (purpose IN ('magic_link', 'reset')),
	email        text NOT NULL,
	user_id      uuid REFERENCES public.auth_users (id) ON DELETE CASCADE,
	name         text,
	redirect_url text NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_tokens_email_idx ON public.auth_tokens (pg_catalog.lower(email));
CREATE INDEX IF NOT EXISTS auth_tokens_user_idx ON public.auth_tokens (user_id);
CREATE INDEX IF NOT EXISTS auth_tokens_expires_idx ON public.auth_tokens (expires_at);
COMMENT ON TABLE public.auth_users IS 'end users of this project (managed by Mosaic auth; password_hash is argon2id or bcrypt)';
COMMENT ON TABLE public.auth_tokens IS 'pending magic-link and password-reset tokens (SHA-256 hashes only; managed by Mosaic auth)';
`,
	// 2: one-time exchange codes (purpose 'exchange'), handed to the app
	// with the magic-link redirect and redeemed server to server.
	2: `
ALTER TABLE public.auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_purpose_check;
ALTER TABLE public.auth_tokens ADD CONSTRAINT auth_tokens_purpose_check CHECK (purpose IN ('magic_link', 'reset', 'exchange'));
COMMENT ON TABLE public.auth_tokens IS 'pending magic-link, password-reset and exchange tokens (SHA-256 hashes only; managed by Mosaic auth)';
`,
}

// SchemaVersion is the version the migrations reach.
var SchemaVersion = len(migrations) - 1

// lockKey is the transaction-level advisory lock that serialises
// migrations of one tenant database across goroutines and processes.
const lockKey int64 = 0x6d6f73616963_6175 // "mosaic" "au"

// InitResult is the answer of Init.
type InitResult struct {
	// Version is the schema version of the auth tables after the call.
	Version int `json:"version"`
	// Applied lists the versions this call applied (empty when the tables were up to date).
	Applied []int `json:"applied"`
	// Tables names the auth tables.
	Tables []string `json:"tables"`
}

// migrate brings the database's auth tables to SchemaVersion. It is safe to
// run concurrently: callers serialise on the advisory lock, and the later
// ones find the work done.
func migrate(ctx context.Context, pool *pgxpool.Pool) (*InitResult, error) {
	res := &InitResult{Tables: Tables, Applied: []int{}}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Pin the search path for this transaction, wait a bounded time for
		// the lock (a tenant statement could hold the same key), and keep
		// the tenant's statement_timeout from cutting a migration short.
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.set_config('search_path', 'pg_catalog, public', true),
			pg_catalog.set_config('lock_timeout', '15s', true)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.auth_schema_migrations (
			version integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT pg_catalog.now())`); err != nil {
			return err
		}
		var (
			version int
			present int
		)
		err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT pg_catalog.max(version) FROM public.auth_schema_migrations), 0),
			(pg_catalog.to_regclass('public.auth_users') IS NOT NULL)::int + (pg_catalog.to_regclass('public.auth_tokens') IS NOT NULL)::int`).Scan(&version, &present)
		if err != nil {
			return err
		}
		if version > SchemaVersion {
			return fmt.Errorf("the auth tables are at version %d, newer than this server's %d", version, SchemaVersion)
		}
		if present < len(Tables) && version > 0 {
			// The tenant dropped a table: re-apply every version (each is
			// idempotent) so the missing one is made again.
			version = 0
		}
		for v := version + 1; v <= SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("auth migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO public.auth_schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING`, v); err != nil {
				return err
			}
			res.Applied = append(res.Applied, v)
		}
		res.Version = SchemaVersion
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// missingSchema reports whether err says an auth table or column is gone
// (undefined_table, undefined_column), so the caller re-runs migrate.
func missingSchema(err error) bool {
	c := pgCode(err)
	return c == "42P01" || c == "42703"
}
