package sqlexec

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mosaic-platform/mosaic/errs"
)

// SQLSTATE codes this package reacts to.
const (
	codeUniqueViolation   = "23505"
	codeDuplicateObject   = "42710" // CREATE ROLE of an existing name
	codeDuplicateDatabase = "42P04"
	codeInvalidCatalog    = "3D000" // no such database
	codeObjectInUse       = "55006" // template has other sessions
	codeTooManyConns      = "53300"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsConnError reports whether err says the server could not be reached or
// the connection broke (including an administrator shutdown or too many
// connections), as opposed to a statement that failed. The root package uses
// it for the control database too.
func IsConnError(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	code := pgCode(err)
	switch {
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03", code == codeTooManyConns:
		return true
	case code != "":
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
}

// classify turns an error from pgx into an *errs.Error: an *errs.Error stays
// as is; cancellation and connection failures are Unavailable; anything else
// is Internal. The format describes the operation (for logs) and must never
// include a password.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, "canceled", "the database operation was cancelled or timed out")
	}
	if IsConnError(err) {
		return errs.Wrap(errs.Unavailable, err, "database_unavailable", "the database server is unavailable")
	}
	return errs.Internalf(err, format, args...)
}

// ctxOr returns a cancellation error when ctx is done (pgx may report a
// cancelled query as a plain I/O error), else classify(err).
func ctxOr(ctx context.Context, err error, format string, args ...any) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(ctx.Err(), err)
	}
	return classify(err, format, args...)
}
