package sqlexec

// # Running tenant SQL
//
// [Exec] runs one request of untrusted SQL on a tenant pool ([Cluster.Pool]),
// as the tenant role, never as the admin:
//
//   - With params, or without params and a single statement: the extended
//     protocol (Parse/Bind/Describe/Execute, unnamed statement, text
//     results), so PostgreSQL itself refuses a second statement. It is
//     pipelined with the session reset in one round trip:
//     [BEGIN READ ONLY; SELECT 1;] stmt; Sync; ROLLBACK; Sync; DISCARD ALL; Sync.
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
