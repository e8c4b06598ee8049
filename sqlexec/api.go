package sqlexec

// This file is the contract the root package builds on. Keep these names and
// signatures; add to them freely.

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Server is one PostgreSQL server that can host tenant databases. The root
// package records Server.Name per project, so it must stay stable.
type Server struct {
	// Name identifies the server in placement records, e.g. "main".
	Name string
	// AdminURL connects as a role that may create roles and databases
	// (a superuser, in the embedded default).
	AdminURL string
	// Host and Port are what tenants are told to connect to. Empty/zero
	// means: taken from AdminURL.
	Host string
	Port int
}

// Limits are the per-tenant database limits that a plan sets.
type Limits struct {
	// ConnectionLimit is the role's CONNECTION LIMIT (0 means the package default).
	ConnectionLimit int
	// TempFileLimit is the role's temp_file_limit, e.g. "1GB" ("" means the package default).
	TempFileLimit string
	// StatementTimeout and IdleInTransactionTimeout become the role's
	// statement_timeout and idle_in_transaction_session_timeout defaults
	// (0 means the package default, a negative value leaves the setting
	// alone). They are a convenience only: a tenant can SET them itself, so
	// whoever runs tenant SQL must enforce its own deadline.
	StatementTimeout         time.Duration
	IdleInTransactionTimeout time.Duration
}

// Credentials locate a tenant database and carry its role's password.
// The password is returned by Create only; the caller stores it (encrypted).
type Credentials struct {
	Server   string // Server.Name the database lives on
	Host     string
	Port     int
	Database string
	User     string
	Password string
	// Extensions that are installed in the database; Missing are those that
	// were wanted but are not available on the server.
	Extensions []string
	Missing    []string
}

// URL returns a postgres:// URL for the credentials, with the password in
// it. A Host that is a directory (a Unix socket) goes into the host query
// parameter, as libpq and pgx expect.
func (c Credentials) URL() string {
	u := url.URL{Scheme: "postgres", Path: "/" + c.Database}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else {
		u.User = url.User(c.User)
	}
	q := url.Values{}
	switch {
	case strings.HasPrefix(c.Host, "/"):
		q.Set("host", c.Host)
		if c.Port != 0 {
			q.Set("port", strconv.Itoa(c.Port))
		}
	case c.Port != 0:
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	default:
		u.Host = c.Host
		if strings.Contains(c.Host, ":") {
			u.Host = "[" + c.Host + "]"
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// String describes the credentials without the password, so that printing
// or logging them by accident does not leak it.
func (c Credentials) String() string {
	c.Password = ""
	return c.URL()
}

// LogValue keeps the password out of slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Databases is what the root package needs from tenant database hosting.
type Databases interface {
	// Create makes role `name` and database `name`, locked down, with the
	// extensions the server has. On any failure (including a cancelled ctx) it
	// removes what it made before returning the error. An existing role or
	// database of that name is a Conflict error and is left untouched.
	Create(ctx context.Context, name string, lim Limits) (*Credentials, error)
	// Drop removes the database and role `name` on `server`, terminating its
	// connections first and closing any cached pool. Missing objects are not an error.
	Drop(ctx context.Context, server, name string) error
	// Size returns pg_database_size of the tenant database.
	Size(ctx context.Context, server, name string) (int64, error)
	// Pool returns a cached pool that connects as the tenant role to the
	// tenant database with a pinned search_path.
	Pool(ctx context.Context, c Credentials) (*pgxpool.Pool, error)
}
