// Package errs defines the one error type that every Mosaic package returns
// to its callers. It is a leaf package: it imports only the standard library,
// so capability packages, the root package and the HTTP layer can all share it.
//
// An *Error carries a Kind, which maps to an HTTP status, a short machine code
// (for example "slug_taken") and a human sentence (Detail) that is safe to show
// to the caller. The wrapped cause (Err) is for logs only and is never sent over
// HTTP.
//
// Library users test for a kind with errors.Is and the sentinels:
//
//	if errors.Is(err, errs.ErrNotFound) { ... }
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies an error. The zero value is Internal.
type Kind uint8

// The kinds of error, each with its HTTP status.
const (
	Internal     Kind = iota // 500: a bug or an unexpected failure; details are logged, not shown
	Invalid                  // 400: the request is malformed or a value is not allowed
	Unauthorized             // 401: no credential, or a wrong, expired or revoked one
	Quota                    // 402: a plan limit is exceeded
	Forbidden                // 403: authenticated, but not allowed
	NotFound                 // 404: no such resource (or not visible to the caller)
	Conflict                 // 409: the resource already exists or changed concurrently
	TooLarge                 // 413: a body or value exceeds a documented size
	RateLimited              // 429: too many requests; see Error.RetryAfter
	Unavailable              // 503: a backing service is down or not configured
)

var kindInfo = [...]struct {
	code   string
	status int
}{
	Internal:     {"internal", http.StatusInternalServerError},
	Invalid:      {"invalid", http.StatusBadRequest},
	Unauthorized: {"unauthorized", http.StatusUnauthorized},
	Quota:        {"quota_exceeded", http.StatusPaymentRequired},
	Forbidden:    {"forbidden", http.StatusForbidden},
	NotFound:     {"not_found", http.StatusNotFound},
	Conflict:     {"conflict", http.StatusConflict},
	TooLarge:     {"too_large", http.StatusRequestEntityTooLarge},
	RateLimited:  {"rate_limited", http.StatusTooManyRequests},
	Unavailable:  {"unavailable", http.StatusServiceUnavailable},
}

// String returns the kind's default machine code, e.g. "not_found".
func (k Kind) String() string {
	if int(k) < len(kindInfo) {
		return kindInfo[k].code
	}
	return "internal"
}

// Status returns the HTTP status code for the kind.
func (k Kind) Status() int {
	if int(k) < len(kindInfo) {
		return kindInfo[k].status
	}
	return http.StatusInternalServerError
}

// KindForStatus maps an HTTP status back to a Kind (used by the client).
func KindForStatus(status int) Kind {
	for k, info := range kindInfo {
		if info.status == status {
			return Kind(k)
		}
	}
	switch {
	case status >= 500:
		return Internal
	case status >= 400:
		return Invalid
	}
	return Internal
}

// Error is the error type of every Mosaic package.
type Error struct {
	Kind Kind
	// Code is a stable machine-readable code; empty means Kind.String().
	Code string
	// Detail is a human sentence, safe to show to the caller.
	Detail string
	// RetryAfter is set on RateLimited and Unavailable errors when known.
	RetryAfter time.Duration
	// Err is the underlying cause, for logs. It is never shown over HTTP.
	Err error
	// Fields are optional extra members of the HTTP error body (for
	// example a SQLSTATE "code" and a "position"). They must be safe to
	// show; the members detail, error and request_id cannot be overridden.
	Fields map[string]any
}

// Error implements error. It includes the cause, so it is meant for logs.
func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error of the same kind whose Code, if set,
// matches. It makes errors.Is(err, errs.ErrNotFound) work for any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.ErrorCode())
}

// ErrorCode returns Code, or the kind's default code when Code is empty.
func (e *Error) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.String()
}

// Sentinels for errors.Is. Compare with errors.Is, never with ==.
var (
	ErrInternal     = &Error{Kind: Internal}
	ErrInvalid      = &Error{Kind: Invalid}
	ErrUnauthorized = &Error{Kind: Unauthorized}
	ErrQuota        = &Error{Kind: Quota}
	ErrForbidden    = &Error{Kind: Forbidden}
	ErrNotFound     = &Error{Kind: NotFound}
	ErrConflict     = &Error{Kind: Conflict}
	ErrTooLarge     = &Error{Kind: TooLarge}
	ErrRateLimited  = &Error{Kind: RateLimited}
	ErrUnavailable  = &Error{Kind: Unavailable}
)

// New returns an error of the given kind and code with a formatted detail.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of the given kind whose cause is err. The detail is
// what the caller sees; err is only logged.
func Wrap(kind Kind, err error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Detail: fmt.Sprintf(format, args...), Err: err}
}

// Internalf wraps an unexpected failure. The detail shown to callers is
// generic; the cause and context go to logs.
func Internalf(err error, format string, args ...any) *Error {
	return &Error{Kind: Internal, Err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the first *Error in err's chain. An error that is not an *Error
// is wrapped as Internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Err: err}
}
