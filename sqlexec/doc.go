// Package sqlexec hosts tenant databases on one or more PostgreSQL servers.
//
// A tenant gets one role and one database of the same name (for example
// tenant_myapp_x4k2). [Cluster] is the production implementation of
// [Databases]: it provisions and drops them, reports their size and hands out
// a cached connection pool that runs as the tenant role.
//
// # Lock-down
//
// Tenants are expected to run arbitrary SQL, so PostgreSQL itself is the
// sandbox. The package sets it up as follows (see research/security.md §1):
//
// Once per server (lazily, on first use, serialised across processes by a
// PostgreSQL advisory lock):
//
//   - REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC, so a tenant
//     role can connect to no database but its own.
//   - A template database (default mosaic_tenant_template) is created from
//     template0 with every wanted extension the server has
//     (pg_available_extensions) pre-installed, then marked IS_TEMPLATE true,
//     ALLOW_CONNECTIONS false, with no privileges for PUBLIC. Its comment
//     records which extensions it holds and that setup finished.
//
// Per tenant ([Cluster.Create]):
//
//   - CREATE ROLE name LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
//     NOBYPASSRLS NOINHERIT CONNECTION LIMIT n, with a 40-character random
//     password from crypto/rand. The server only ever receives its SCRAM-SHA-256
//     verifier (computed here), so the plain password is never in SQL text,
//     in server logs, in our logs or in errors.
//   - ALTER ROLE name SET temp_file_limit (a superuser-only setting: the
//     tenant cannot raise it), plus statement_timeout and
//     idle_in_transaction_session_timeout defaults, which are a convenience
//     only (any role can SET them; the executor enforces its own deadline).
//   - CREATE DATABASE name TEMPLATE mosaic_tenant_template STRATEGY WAL_LOG,
//     owned by the admin role, not by the tenant: a database owner could
//     ALTER DATABASE ... SET, GRANT CONNECT to PUBLIC and install trusted
//     extensions. REVOKE ALL ON DATABASE name FROM PUBLIC; GRANT CONNECT,
//     TEMPORARY ON DATABASE name TO name.
//   - In the new (still empty) database, as admin: ALTER SCHEMA public OWNER
//     TO name. The tenant creates its objects there; the extensions' objects
//     stay owned by the admin role and are usable through the default EXECUTE
//     grant to PUBLIC (uuid_generate_v4, gen_random_uuid, crypt, ...).
//
// After Create returns, platform code must not run as the admin role inside a
// tenant database: tenant triggers, views and functions would run with the
// admin's privileges. Size uses pg_database_size from the admin database and
// Drop uses DROP DATABASE ... WITH (FORCE), neither of which runs tenant code.
//
// What PostgreSQL cannot enforce and callers must: statement deadlines (use a
// context), disk quota (poll Size), and the visibility of other tenants' role
// and database names in the shared catalogs (use opaque names).
//
// # Failures and cleanup
//
// Create is all or nothing. On any failure after it started to create the
// role, including a cancelled context, it removes what it created with a
// context detached from the caller's (context.WithoutCancel plus a timeout)
// before it returns. It never drops an object it did not create: when a
// statement's outcome is unknown (the context was cancelled while it ran),
// the role is recognised by its SCRAM verifier, whose salt is random, and the
// database by being owned by that role (the database is created owned by the
// new role and handed to the admin role in the next statement). An existing
// role or database of the name is a Conflict error and is left alone.
//
// # Placement
//
// With several servers, a new database goes to the reachable server with the
// fewest tenant databases (databases whose name is also a login role without
// superuser), counting the creates this Cluster has in flight; ties go to the
// first in Config.Servers. Unreachable servers are skipped. The chosen
// server's name is in Credentials.Server and must be recorded by the caller.
//
// # Extensions and the template
//
// Wanted extensions (Config.Extensions) that the server does not offer are
// reported in Credentials.Missing; that is not an error. When the template
// already exists but lacks a wanted extension that the server now offers
// (pgvector was installed later, say), setup briefly re-opens the template
// (ALLOW_CONNECTIONS true), adds the extension and closes it again, under the
// advisory lock. A tenant create that races with that window gets "source
// database is being accessed by other users" and retries for a short while.
// Existing tenant databases are not changed. Setup runs once per process and
// server, so a process picks up newly installed extensions when it restarts.
//
// The admin role must be a superuser (setting temp_file_limit for a role and
// revoking CONNECT on postgres need it), and the admin URL's database is where
// the advisory lock is taken, so every process should use the same one.
package sqlexec
