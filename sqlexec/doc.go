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
//
// # Running tenant SQL
//
// [Exec] runs one request of untrusted SQL on a tenant pool ([Cluster.Pool]),
// as the tenant role, never as the admin:
//
//   - With params, or without params and a single statement: the extended
//     protocol (Parse/Bind/Describe/Execute, unnamed statement, text
//     results), so PostgreSQL itself refuses a second statement. It is
//     pipelined with the session reset in one round trip:
//     [BEGIN READ ONLY; SELECT 1;] stmt; Sync; [ROLLBACK; Sync;] DISCARD ALL; Sync.
//     (A statement that leaves a transaction open, such as BEGIN, makes the
//     DISCARD fail; Exec then rolls back and discards in a second round trip.)
//     Exec returns as soon as the statement's result is read; the reset's
//     answers are read in the background before the connection goes back to
//     the pool (or it is closed when the session is not clean), so the reset
//     costs the server's time but not the request's latency.
//   - Without params, a script of several statements (PostgreSQL answers the
//     extended Parse with 42601 "cannot insert multiple commands", before
//     anything ran): the simple protocol, which runs the whole script in one
//     implicit transaction (unless the script itself says BEGIN/COMMIT). The
//     result is the last statement's. Then ROLLBACK; DISCARD ALL.
//   - Each request is its own transaction: a BEGIN without COMMIT is rolled
//     back at the end of the request; SET, temp tables, advisory locks,
//     LISTEN and PREPARE do not outlive it (DISCARD ALL). A connection that
//     is not idle afterwards, or whose statement was cancelled, is closed
//     instead of being returned to the pool.
//   - The time limit (Query.Timeout) is a context deadline. Tenant pools send
//     a real cancel request to the server when a context ends
//     (pgconn.CancelRequestContextWatcherHandler), then cut the socket after
//     CancelDeadlineDelay; a tenant's own statement_timeout = 0 does not help it.
//   - Caps: more than Query.MaxRows rows or Query.MaxBytes bytes of JSON is
//     a TooLarge error (413, "result_too_large"). The statement is cancelled
//     on the server first (closing a pgx result would read it all), then
//     Exec waits for it to end and says which happened: cancelled (nothing
//     it did is kept) or completed anyway. There is no partial result. A
//     single DataRow message larger than DefaultMaxBytes + 1 MiB is refused
//     by the protocol reader before it is buffered.
//   - ReadOnly (a tenant over its size quota): the statement runs inside
//     BEGIN READ ONLY after a snapshot was taken, so SET TRANSACTION READ
//     WRITE is refused (25001) and writes fail with 25006; no SQL is parsed.
//     Scripts are refused (ErrScriptReadOnly) in this mode.
//   - A broken connection is retried once, on a fresh connection after
//     resetting the pool, only when no statement can have run: the connect
//     failed, nothing was sent (pgconn.SafeToRetry), or the server said it
//     terminated the session (57P01).
//   - COPY ... FROM STDIN is not supported over this API: the server waits
//     for data that never comes, and the request ends at the time limit.
//
// Errors: a statement's error is Invalid (400) with PostgreSQL's message as
// Detail and Fields {"code": SQLSTATE, "position": 1-based character (when
// known), "hint"}; the server's DETAIL is left out (it can name server
// paths). The time limit is Invalid, code "query_timeout". Connection
// failures are Unavailable (503) with RetryAfter; 53300 (too many
// connections) likewise.
//
// # Results as JSON
//
// Results are read in PostgreSQL's text format and written as JSON per
// column type OID, without decoding to Go values (exact, and cheaper than
// rows.Values + encoding/json). Tenant sessions start with DateStyle ISO,
// IntervalStyle iso_8601, TimeZone UTC, extra_float_digits 1 and
// bytea_output hex, so the text forms are predictable:
//
//	int2, int4, oid             number
//	int8                        number when within ±2^53 (exact in JavaScript), else a string: "9223372036854775807"
//	numeric                     always a string with PostgreSQL's exact digits: "0.3", "NaN"
//	float4, float8              number (shortest exact form); "NaN", "Infinity", "-Infinity" as strings
//	bool                        true / false
//	text, varchar, char, name   string (char(n) keeps its padding)
//	uuid                        canonical lowercase string
//	date, time                  "2024-01-02", "03:04:05.123"
//	timetz                      "03:04:05+02:00"
//	timestamp                   "2024-01-02T03:04:05.123456"
//	timestamptz                 "2024-01-02T03:04:05.123456+00:00" (UTC)
//	interval                    ISO 8601 duration: "P1DT2H"
//	                            infinity, -infinity and BC dates stay as PostgreSQL writes them
//	bytea                       "\\xdeadbeef" (PostgreSQL's hex form; accepted back as a param)
//	json, jsonb                 embedded as PostgreSQL returns them: numbers are never rounded
//	arrays of built-in types    JSON arrays, nested, NULL → null, each element by the rules above
//	pgvector vector, halfvec    array of numbers (the extension's types are looked up per connection)
//	anything else               the text form as a string: enums, composites, ranges, money,
//	                            inet, geometric types, user-defined array types, unknown OIDs
//	                            (domains arrive as their base type)
//
// Row objects are keyed by column name in column order. When several
// columns share a name, the second and later get "_2", "_3", ... (the first
// such name that no column of the result has), so no value overwrites
// another; Result.Columns lists the keys actually used.
//
// # Params
//
// Params are sent as text with type "unknown", so PostgreSQL infers each
// parameter's type from the statement: a JSON string goes into uuid,
// timestamptz, bytea ("\\x.."), vector ("[1,2]") or any other column as its
// text; a number is sent with its exact digits (12345678901234567890.5
// stays exact in a numeric); true/false and null as such; an object as its
// JSON text (for json/jsonb). A JSON array is sent as a PostgreSQL array
// literal when the server infers an array type for the parameter, else as
// its JSON text (json, jsonb, vector). That needs the parameter types, so a
// query with array params costs one extra round trip (a Describe).
// SELECT $1 with no other hint is text, as in psql.
package sqlexec
