package sqlexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/errs"
)

// Defaults for Query's limits.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultMaxRows  = 10_000
	DefaultMaxBytes = 10 << 20
)

// Query is one request to run tenant SQL.
type Query struct {
	// SQL is one statement, or (without Params) a script of several.
	SQL string
	// Params bind $1, $2, ...: Go values or json.RawMessage (see the package doc).
	Params []any
	// ReadOnly runs the statement in a read-only transaction (a tenant over
	// its size quota). Scripts are refused in this mode.
	ReadOnly bool
	// Timeout bounds the whole request, enforced by the platform with a
	// cancel request to the server (default DefaultTimeout).
	Timeout time.Duration
	// MaxRows and MaxBytes cap the result (defaults DefaultMaxRows and
	// DefaultMaxBytes). A bigger result is a TooLarge error.
	MaxRows  int
	MaxBytes int
}

// Result is the outcome of a statement, shaped as the HTTP API returns it.
type Result struct {
	// Rows is a JSON array of objects, one per row, keyed by Columns.
	Rows json.RawMessage `json:"rows"`
	// RowCount is the count from the command tag: rows returned by a SELECT,
	// rows changed by INSERT/UPDATE/DELETE, else 0.
	RowCount int64 `json:"row_count"`
	// Columns are the keys of the row objects, in column order (duplicate
	// names made unique, see the package doc).
	Columns []string `json:"columns"`
	// Command is the command tag without its counts: "SELECT", "INSERT", "CREATE TABLE"...
	Command string `json:"command"`
}

// AppendJSON appends the result as the JSON object of the HTTP API.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"rows":`...)
	if len(r.Rows) == 0 {
		b = append(b, "[]"...)
	} else {
		b = append(b, r.Rows...)
	}
	b = append(b, `,"row_count":`...)
	b = strconv.AppendInt(b, r.RowCount, 10)
	b = append(b, `,"columns":[`...)
	for i, c := range r.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
	}
	b = append(b, `],"command":`...)
	b = appendString(b, r.Command)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (r *Result) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// SQLSTATE codes Exec reacts to.
const (
	CodeReadOnlyTransaction  = "25006"
	codeQueryCanceled        = "57014"
	codeAdminShutdown        = "57P01"
	codeSyntaxError          = "42601"
	codeActiveSQLTransaction = "25001"
	codeUndefinedFile        = "58P01"
)

// ErrScriptReadOnly is returned (wrapped) when a multi-statement script is
// sent with Query.ReadOnly.
var ErrScriptReadOnly = errs.New(errs.Quota, "read_only_script", "only single statements can run while the database is read-only")

// Exec runs q on a connection of pool, which must connect as the tenant
// role (see Cluster.Pool), and returns its result. See the package doc for
// the protocol, the transaction, the reset after each request and the
// errors.
func Exec(ctx context.Context, pool *pgxpool.Pool, q Query) (*Result, error) {
	if strings.TrimSpace(q.SQL) == "" {
		return nil, errs.New(errs.Invalid, "invalid_query", "query is required")
	}
	if strings.IndexByte(q.SQL, 0) >= 0 {
		return nil, errs.New(errs.Invalid, "invalid_query", "query must not contain NUL characters")
	}
	ps, hasArray, err := encodeParams(q.Params)
	if err != nil {
		return nil, err
	}
	if q.Timeout <= 0 {
		q.Timeout = DefaultTimeout
	}
	if q.MaxRows <= 0 {
		q.MaxRows = DefaultMaxRows
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = DefaultMaxBytes
	}
	tctx, cancel := context.WithTimeout(ctx, q.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		x := &execution{q: &q, ps: ps, hasArray: hasArray, params: len(q.Params) > 0}
		res, err := x.run(tctx, pool)
		if err != nil && attempt == 0 && x.retryable(tctx, err) {
			// The server closed connections (a restart, or an operator):
			// the pool's other idle connections are likely dead too.
			pool.Reset()
			continue
		}
		if err != nil {
			return nil, x.mapError(ctx, tctx, err)
		}
		return res, nil
	}
}

// execution is one attempt of Exec.
type execution struct {
	q        *Query
	ps       []param
	hasArray bool
	params   bool

	started bool // the server may have run (part of) the statement
	conn    *pgxpool.Conn
	pg      *pgconn.PgConn
	cancel  context.CancelFunc // cancels the statement (caps)
	over    string             // why the result was cut off
	buf     []byte

	// tail is the pipeline of a statement that succeeded, whose session
	// reset is still to be read: run hands it to finish, which reads it
	// after Exec has returned the result, then releases the connection.
	tail    *pgconn.Pipeline
	tailCtx context.Context // the pipeline's context: outlives Exec
	tailEnd context.CancelFunc
}

// resetTimeout bounds reading a session reset after Exec has returned.
const resetTimeout = 5 * time.Second

// retryable: a broken connection before any statement ran.
func (x *execution) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if !x.started {
		return IsConnError(err)
	}
	return pgconn.SafeToRetry(err) || pgCode(err) == codeAdminShutdown
}

func (x *execution) run(ctx context.Context, pool *pgxpool.Pool) (res *Result, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	x.conn, x.pg = conn, conn.Conn().PgConn()
	destroy := false
	defer func() {
		if x.tail != nil {
			if !destroy {
				// The result is ready; the reset's answers are read in the
				// background, off the request's latency.
				go x.finish(conn)
				return
			}
			x.tailEnd()
			x.tail.Close()
		}
		if destroy || x.pg.TxStatus() != 'I' || x.pg.IsBusy() {
			cctx, c := context.WithTimeout(context.Background(), time.Second)
			_ = x.pg.Close(cctx) // Release then drops it from the pool
			c()
		}
		conn.Release()
	}()
	x.started = true

	values := make([][]byte, len(x.ps))
	for i, p := range x.ps {
		values[i] = p.text
	}
	if x.hasArray {
		if err := x.bindArrays(ctx, values); err != nil {
			destroy = !isPgError(err)
			return nil, err
		}
	}

	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	x.cancel = scancel
	res, err = x.extended(sctx, values)
	if x.over != "" || sctx.Err() != nil {
		destroy = true // a cancel request was sent; never reuse the connection
	}
	if err != nil && pgCode(err) == codeSyntaxError && !x.params && strings.Contains(pgMessage(err), "multiple commands") {
		if destroy {
			return nil, err
		}
		if x.q.ReadOnly {
			return nil, ErrScriptReadOnly
		}
		res, err = x.script(sctx)
		if x.over != "" || sctx.Err() != nil || err != nil && !isPgError(err) {
			destroy = true
		}
		if !destroy {
			if rerr := x.reset(sctx); rerr != nil {
				destroy = true
			}
		}
	}
	if err != nil && !isPgError(err) {
		destroy = true
	}
	return res, err
}

// extended runs one statement with the extended protocol, pipelined with
// the session reset: [BEGIN READ ONLY; SELECT 1;] stmt; Sync; [ROLLBACK;
// Sync;] DISCARD ALL; Sync. One round trip.
//
// Outside read-only mode there is no ROLLBACK: the Sync ends the
// statement's implicit transaction, so only a statement that opened one
// itself (BEGIN) leaves a transaction behind. DISCARD ALL then fails inside
// it (25001), and finish resets in a second round trip. Leaving out the
// ROLLBACK saves a message, its warning and about 15 µs on every request
// (BenchmarkSessionReset).
//
// When the statement succeeds, its result is returned as soon as it is
// read: the reset's answers are read by finish, after Exec has returned.
func (x *execution) extended(ctx context.Context, values [][]byte) (*Result, error) {
	// The pipeline's context is ctx until the statement's result is read,
	// and then lives on so that the reset can be read after Exec returns.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, pcancel)
	p := x.pg.StartPipeline(pctx)
	defer func() {
		if x.tail == nil {
			stop()
			pcancel()
		}
	}()
	if x.q.ReadOnly {
		p.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
		// Takes a snapshot, after which SET TRANSACTION READ WRITE is refused.
		p.SendQueryParams("SELECT 1", nil, nil, nil, nil)
	}
	p.SendQueryParams(x.q.SQL, values, nil, nil, nil)
	p.SendPipelineSync()
	if x.q.ReadOnly {
		p.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
		p.SendPipelineSync()
	}
	p.SendQueryParams("DISCARD ALL", nil, nil, nil, nil)
	p.SendPipelineSync()
	if err := p.Flush(); err != nil {
		return nil, err
	}
	if x.q.ReadOnly {
		for range 2 {
			r, err := p.GetResults()
			if err != nil {
				p.Close()
				return nil, err
			}
			if rr, ok := r.(*pgconn.ResultReader); ok {
				if _, err := rr.Close(); err != nil {
					p.Close()
					return nil, err
				}
			}
		}
	}
	var (
		res     *Result
		stmtErr error
	)
	r, err := p.GetResults()
	if err != nil {
		stmtErr = err
	} else if rr, ok := r.(*pgconn.ResultReader); ok {
		res, stmtErr = x.read(rr)
	} else {
		stmtErr = fmt.Errorf("sqlexec: unexpected pipeline result %T", r)
	}
	if x.over != "" || ctx.Err() != nil || stmtErr != nil && !isPgError(stmtErr) {
		p.Close()
		return nil, stmtErr
	}
	if stmtErr == nil && stop() {
		// Detached from ctx: the reset is read by finish, bounded by resetTimeout.
		x.tail, x.tailCtx, x.tailEnd = p, pctx, pcancel
		return res, nil
	}
	p.Close()
	return nil, stmtErr
}

// finish reads the session reset that follows a successful statement, then
// releases the connection, or closes it when the session is not clean. It
// runs after Exec has returned the result: the statement was committed at
// its Sync, so nothing here can change the answer.
func (x *execution) finish(conn *pgxpool.Conn) {
	t := time.AfterFunc(resetTimeout, x.tailEnd)
	clean := true
	if err := x.tail.Close(); err != nil {
		clean = false
		if pgCode(err) == codeActiveSQLTransaction && x.pg.TxStatus() != 'I' {
			// The statement was BEGIN (or a procedure that left a
			// transaction open): the pipelined DISCARD ALL was refused
			// inside it.
			clean = x.reset(x.tailCtx) == nil
		}
	}
	t.Stop()
	x.tailEnd()
	if !clean || x.pg.TxStatus() != 'I' || x.pg.IsBusy() {
		cctx, c := context.WithTimeout(context.Background(), time.Second)
		_ = x.pg.Close(cctx) // Release then drops it from the pool
		c()
	}
	conn.Release()
}

// script runs a multi-statement script with the simple protocol: one
// implicit transaction, the last statement's result.
func (x *execution) script(ctx context.Context) (*Result, error) {
	mrr := x.pg.Exec(ctx, x.q.SQL)
	var last *Result
	for mrr.NextResult() {
		res, err := x.read(mrr.ResultReader())
		if err != nil {
			_, _ = mrr.ReadAll()
			mrr.Close()
			return nil, err
		}
		last = res
	}
	if err := mrr.Close(); err != nil {
		return nil, err
	}
	if last == nil {
		last = &Result{Rows: json.RawMessage("[]"), Columns: []string{}}
	}
	return last, nil
}

// reset returns the session to its defaults after a script.
func (x *execution) reset(ctx context.Context) error {
	p := x.pg.StartPipeline(ctx)
	p.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
	p.SendPipelineSync()
	p.SendQueryParams("DISCARD ALL", nil, nil, nil, nil)
	p.SendPipelineSync()
	if err := p.Flush(); err != nil {
		return err
	}
	return p.Close()
}

// read encodes one result. When a cap is reached it cancels the statement
// on the server first (else closing the reader would read the whole
// result), then waits for the statement to end either way.
func (x *execution) read(rr *pgconn.ResultReader) (*Result, error) {
	cols, names := planColumns(rr.FieldDescriptions(), x.isVector)
	b := x.buf[:0]
	b = append(b, '[')
	n := 0
	for rr.NextRow() {
		if n >= x.q.MaxRows {
			x.over = fmt.Sprintf("more than %d rows", x.q.MaxRows)
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, cols, rr.Values())
		n++
		if len(b) > x.q.MaxBytes {
			x.over = fmt.Sprintf("more than %d bytes of JSON", x.q.MaxBytes)
			break
		}
	}
	if x.over != "" {
		x.cancel()
		for rr.NextRow() {
		}
		_, err := rr.Close()
		if err != nil {
			return nil, errs.Wrap(errs.TooLarge, err, "result_too_large",
				"the result has %s, more than the API returns; the statement was cancelled, so nothing it did was kept; add a LIMIT", x.over)
		}
		return nil, errs.New(errs.TooLarge, "result_too_large",
			"the result has %s, more than the API returns; the statement completed, but its result is not shown; add a LIMIT", x.over)
	}
	tag, err := rr.Close()
	if err != nil {
		return nil, err
	}
	b = append(b, ']')
	x.buf = b
	rows := make(json.RawMessage, len(b))
	copy(rows, b)
	if names == nil {
		names = []string{}
	}
	return &Result{Rows: rows, RowCount: tag.RowsAffected(), Columns: names, Command: commandName(tag.String())}, nil
}

// isVector reports whether oid is pgvector's vector or halfvec in this
// connection's database (registered when the connection was made).
func (x *execution) isVector(oid uint32) bool {
	if oid < 16384 {
		return false
	}
	t, ok := x.conn.Conn().TypeMap().TypeForOID(oid)
	return ok && (t.Name == "vector" || t.Name == "halfvec")
}

// bindArrays chooses how each JSON-array parameter is sent, by the type
// the server infers for it: a PostgreSQL array literal for array types,
// the JSON text itself for json, jsonb, vector and anything else.
func (x *execution) bindArrays(ctx context.Context, values [][]byte) error {
	sd, err := x.pg.Prepare(ctx, "", x.q.SQL, nil)
	if err != nil {
		return err
	}
	for i, p := range x.ps {
		if p.array == nil {
			continue
		}
		var oid uint32
		if i < len(sd.ParamOIDs) {
			oid = sd.ParamOIDs[i]
		}
		isArray, delim := false, byte(',')
		if _, d, ok := arrayElem(oid); ok {
			isArray, delim = true, d
		} else if oid >= 16384 && !x.isVector(oid) {
			rr := x.pg.ExecParams(ctx, "SELECT typcategory = 'A' FROM pg_catalog.pg_type WHERE oid = $1",
				[][]byte{strconv.AppendUint(nil, uint64(oid), 10)}, nil, nil, nil)
			r := rr.Read()
			if r.Err != nil {
				return r.Err
			}
			isArray = len(r.Rows) == 1 && len(r.Rows[0]) == 1 && string(r.Rows[0][0]) == "t"
		}
		if isArray {
			lit, err := arrayLiteral(p.array, delim)
			if err != nil {
				return errs.New(errs.Invalid, "invalid_params", "param $%d: %v", i+1, err)
			}
			values[i] = lit
		} else {
			values[i] = p.array
		}
	}
	return nil
}

// commandName strips the counts from a command tag: "INSERT 0 1" → "INSERT".
func commandName(tag string) string {
	for {
		i := strings.LastIndexByte(tag, ' ')
		if i < 0 {
			if isDigits(tag) {
				return ""
			}
			return tag
		}
		if !isDigits(tag[i+1:]) {
			return tag
		}
		tag = tag[:i]
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isPgError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && !strings.EqualFold(pe.Severity, "FATAL") && !strings.EqualFold(pe.Severity, "PANIC")
}

func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return ""
}

// mapError turns an Exec failure into an *errs.Error (see the package doc).
func (x *execution) mapError(parent, tctx context.Context, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if parent.Err() != nil {
		return errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}
	if tctx.Err() != nil {
		return &errs.Error{Kind: errs.Invalid, Code: "query_timeout", Err: err,
			Detail: fmt.Sprintf("the query was cancelled after the time limit of %s", x.q.Timeout),
			Fields: map[string]any{"code": codeQueryCanceled}}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && isPgError(err) {
		return pgErr(pe)
	}
	if pgCode(err) == codeTooManyConns {
		return &errs.Error{Kind: errs.Unavailable, Code: "too_many_connections", Err: err, RetryAfter: time.Second,
			Detail: "the project has too many open database connections; try again shortly"}
	}
	if IsConnError(err) || errors.As(err, &pe) {
		return &errs.Error{Kind: errs.Unavailable, Code: "database_unavailable", Err: err, RetryAfter: time.Second,
			Detail: "the project's database is unavailable; try again shortly"}
	}
	if strings.Contains(err.Error(), "body too large") {
		return errs.Wrap(errs.TooLarge, err, "result_too_large", "a value of the result is larger than %d bytes", x.q.MaxBytes)
	}
	return errs.Internalf(err, "sqlexec: exec")
}

// pgErr is a statement's error as the caller sees it: 400 with
// PostgreSQL's message, SQLSTATE code, position and hint. The server's
// DETAIL is left out: it can name server paths.
func pgErr(pe *pgconn.PgError) error {
	f := map[string]any{"code": pe.Code}
	if pe.Position > 0 {
		f["position"] = pe.Position
	}
	if pe.Hint != "" {
		f["hint"] = pe.Hint
	}
	msg := pe.Message
	code := "sql_error"
	if pe.Code == codeUndefinedFile && strings.Contains(msg, "extension control file") {
		// PostgreSQL 15 names the control file's path; say which extension instead.
		name := msg
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		name, _, _ = strings.Cut(name, ".control")
		msg = fmt.Sprintf("extension %q is not available on this database server", name)
		code = "extension_not_available"
		delete(f, "hint")
	}
	return &errs.Error{Kind: errs.Invalid, Code: code, Detail: msg, Err: pe, Fields: f}
}

// PgCode returns the SQLSTATE of a statement error returned by Exec, or "".
func PgCode(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Fields != nil {
		if c, ok := e.Fields["code"].(string); ok {
			return c
		}
	}
	return pgCode(err)
}
