package authn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/mosaic-platform/mosaic/errs"
)

// Token lifetimes by default. The magic link's 15 minutes is the API
// reference's; it is longer than OWASP ASVS 5.0 6.5.5's 10 minutes for
// out-of-band codes, a documented deviation (Config.MagicLinkTTL lowers it).
const (
	DefaultMagicLinkTTL    = 15 * time.Minute
	DefaultResetTTL        = time.Hour
	DefaultExchangeCodeTTL = 5 * time.Minute
)

// Config configures a Service. The zero value is ready to use.
type Config struct {
	// Params are the argon2id parameters of new hashes (default
	// DefaultParams). Lowering them is for tests; raising them upgrades
	// every user's hash at their next login.
	Params Params
	// MaxConcurrentHashes bounds the password hashes computed at once
	// (default GOMAXPROCS): memory stays under about this many × Params.Memory.
	MaxConcurrentHashes int
	// MagicLinkTTL and ResetTTL are the lifetimes of the tokens (defaults
	// 15 minutes and 1 hour).
	MagicLinkTTL time.Duration
	ResetTTL     time.Duration
	// ExchangeCodeTTL is the lifetime of the one-time code a magic link's
	// redirect carries, which the app exchanges for the user (default 5
	// minutes).
	ExchangeCodeTTL time.Duration
	// Now is the clock (default time.Now). Token expiry and the users'
	// timestamps follow it, so tests can move it.
	Now func() time.Time
	// Logger receives warnings, such as a stored hash that cannot be read
	// (default: discard). It never receives passwords, hashes or tokens.
	Logger *slog.Logger
}

// Service is end-user auth for any number of tenant databases. It holds
// what they share: the hashing parameters and slots, the clock, and which
// databases have up-to-date tables. Use For to work on one database.
type Service struct {
	cfg Config
	h   *hasher
	log *slog.Logger

	mu    sync.Mutex
	ready map[string]bool // database key → tables known to be at SchemaVersion
}

// New returns a Service. It does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if err := cfg.Params.valid(); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "config", "authn: %v", err)
	}
	if cfg.MagicLinkTTL <= 0 {
		cfg.MagicLinkTTL = DefaultMagicLinkTTL
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.ExchangeCodeTTL <= 0 {
		cfg.ExchangeCodeTTL = DefaultExchangeCodeTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, h: newHasher(cfg.Params, cfg.MaxConcurrentHashes), log: cfg.Logger, ready: map[string]bool{}}, nil
}

// MagicLinkTTL returns the lifetime of a magic link.
func (s *Service) MagicLinkTTL() time.Duration { return s.cfg.MagicLinkTTL }

// ResetTTL returns the lifetime of a password-reset link.
func (s *Service) ResetTTL() time.Duration { return s.cfg.ResetTTL }

// ExchangeCodeTTL returns the lifetime of a magic link's exchange code.
func (s *Service) ExchangeCodeTTL() time.Duration { return s.cfg.ExchangeCodeTTL }

// Params returns the argon2id parameters of new hashes.
func (s *Service) Params() Params { return s.cfg.Params }

// Tenant is the auth of one tenant database. It is cheap; make one per request.
type Tenant struct {
	s    *Service
	pool *pgxpool.Pool
	key  string
}

// For returns the auth of the database that pool connects to. The pool
// must connect as the tenant's own role (never an admin: a tenant's trigger
// on auth_users runs with the caller's rights), with search_path pinned to
// public (the package also schema-qualifies every name it uses).
func (s *Service) For(pool *pgxpool.Pool) *Tenant {
	cc := pool.Config().ConnConfig
	return &Tenant{s: s, pool: pool, key: cc.Host + ":" + strconv.Itoa(int(cc.Port)) + "/" + cc.Database}
}

// User is an end user as the API shows it. It never carries the password hash.
type User struct {
	ID            uuid.UUID       `json:"id"`
	Email         string          `json:"email"`
	Name          *string         `json:"name"`
	AvatarURL     *string         `json:"avatar_url"`
	Metadata      json.RawMessage `json:"metadata"`
	EmailVerified bool            `json:"email_verified"`
	VerifiedAt    *time.Time      `json:"verified_at"`
	HasPassword   bool            `json:"has_password"`
	LoginCount    int64           `json:"login_count"`
	LastLoginAt   *time.Time      `json:"last_login_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

const userCols = `id, email, name, avatar_url, metadata, email_verified, verified_at,
	password_hash IS NOT NULL, login_count, last_login_at, created_at, updated_at`

// scanUser reads userCols, then any extra columns into extra.
func scanUser(r pgx.Row, extra ...any) (*User, error) {
	var u User
	var meta []byte
	err := r.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.AvatarURL, &meta, &u.EmailVerified, &u.VerifiedAt,
		&u.HasPassword, &u.LoginCount, &u.LastLoginAt, &u.CreatedAt, &u.UpdatedAt}, extra...)...)
	if err != nil {
		return nil, err
	}
	if len(meta) == 0 {
		meta = []byte("{}")
	}
	u.Metadata = json.RawMessage(meta)
	return &u, nil
}

// ensure makes sure the auth tables exist at SchemaVersion, once per
// database per process (and again after run sees them missing).
func (t *Tenant) ensure(ctx context.Context) error {
	t.s.mu.Lock()
	ok := t.s.ready[t.key]
	t.s.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := migrate(ctx, t.pool); err != nil {
		return t.dbErr(err)
	}
	t.s.mu.Lock()
	t.s.ready[t.key] = true
	t.s.mu.Unlock()
	return nil
}

func (t *Tenant) forget() {
	t.s.mu.Lock()
	delete(t.s.ready, t.key)
	t.s.mu.Unlock()
}

// run makes sure the tables exist and runs f; when f finds a table or
// column missing (the tenant dropped or altered it), the tables are checked
// again and f runs once more.
func (t *Tenant) run(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		if err := t.ensure(ctx); err != nil {
			return err
		}
		err := f()
		if err != nil && attempt == 0 && missingSchema(err) {
			t.forget()
			continue
		}
		return t.dbErr(err)
	}
}

// Init creates or upgrades the auth tables (they are also made on first
// use). It always checks the database, whatever this process remembers.
func (t *Tenant) Init(ctx context.Context) (*InitResult, error) {
	t.forget()
	res, err := migrate(ctx, t.pool)
	if err != nil {
		return nil, t.dbErr(err)
	}
	t.s.mu.Lock()
	t.s.ready[t.key] = true
	t.s.mu.Unlock()
	return res, nil
}

func (t *Tenant) now() time.Time { return t.s.cfg.Now().UTC() }

// NewUser is the input of Signup.
type NewUser struct {
	Email    string
	Password string
	Name     *string
	Metadata json.RawMessage // a JSON object, or empty
}

func checkName(name *string) error {
	if name != nil && len([]rune(*name)) > MaxNameLen {
		return errs.New(errs.Invalid, "invalid_name", "name must be at most %d characters", MaxNameLen)
	}
	return nil
}

func checkMetadata(m json.RawMessage) (json.RawMessage, error) {
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage("{}"), nil
	}
	if len(m) > MaxMetadataSize {
		return nil, errs.New(errs.TooLarge, "metadata_too_large", "metadata must be at most %d bytes of JSON", MaxMetadataSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(m, &obj); err != nil || obj == nil {
		return nil, errs.New(errs.Invalid, "invalid_metadata", "metadata must be a JSON object")
	}
	return m, nil
}

func checkAvatar(a *string) error {
	if a == nil || *a == "" {
		return nil
	}
	if _, err := ResolveRedirect(*a, "http://invalid"); err != nil || (*a)[0] == '/' {
		return errs.New(errs.Invalid, "invalid_avatar_url", "avatar_url must be an absolute http(s) URL of at most %d bytes", MaxURLLen)
	}
	return nil
}

// Signup creates a user with a password. Errors: Invalid (400) for a bad
// email, a password shorter than 8 or longer than 256 characters, a bad name
// or metadata; Conflict (409) "user_exists" when the email is taken.
func (t *Tenant) Signup(ctx context.Context, in NewUser) (*User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(in.Password); err != nil {
		return nil, err
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	meta, err := checkMetadata(in.Metadata)
	if err != nil {
		return nil, err
	}
	hash, err := t.s.h.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var u *User
	err = t.run(ctx, func() error {
		now := t.now()
		u, err = scanUser(t.pool.QueryRow(ctx, `INSERT INTO public.auth_users
			(id, email, password_hash, name, metadata, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+userCols,
			uuid.New(), email, hash, in.Name, string(meta), now))
		return err
	})
	if pgCode(err) == "23505" {
		return nil, errs.New(errs.Conflict, "user_exists", "a user with this email already exists")
	}
	return u, err
}

// errBadCredentials is the one answer to every failed login.
func errBadCredentials() error {
	return errs.New(errs.Unauthorized, "invalid_credentials", "invalid email or password")
}

// Login checks an email and password. A wrong password, an unknown email
// and a user without a password all cost one password verification and
// return the same Unauthorized (401) "invalid_credentials". On success it
// counts the login and, when the stored hash was made with other parameters
// (or is bcrypt), replaces it with one made with the current parameters.
func (t *Tenant) Login(ctx context.Context, email, password string) (*User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, errs.New(errs.Invalid, "invalid_password", "password is required")
	}
	if len([]rune(password)) > MaxPasswordLen {
		return nil, errBadCredentials()
	}
	var (
		id   uuid.UUID
		hash *string
	)
	err = t.run(ctx, func() error {
		err := t.pool.QueryRow(ctx, `SELECT id, password_hash FROM public.auth_users
			WHERE pg_catalog.lower(email) = pg_catalog.lower($1)`, email).Scan(&id, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			id, hash = uuid.Nil, nil
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if hash == nil {
		if err := t.s.h.verifyDummy(ctx, password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials()
	}
	ok, rehash, err := t.s.h.verify(ctx, password, *hash)
	if err != nil {
		if errs.As(err).Kind == errs.Unavailable {
			return nil, err
		}
		t.s.log.Warn("a stored password hash cannot be verified", "user_id", id, "reason", err.Error())
		return nil, errBadCredentials()
	}
	if !ok {
		return nil, errBadCredentials()
	}
	var newHash *string
	if rehash {
		h, err := t.s.h.hash(ctx, password)
		if err != nil {
			return nil, err
		}
		newHash = &h
	}
	var u *User
	err = t.run(ctx, func() error {
		// The hash must still be the one verified: a concurrent password
		// change wins over this login.
		u, err = scanUser(t.pool.QueryRow(ctx, `UPDATE public.auth_users
			SET login_count = login_count + 1, last_login_at = $3, password_hash = COALESCE($4, password_hash)
			WHERE id = $1 AND password_hash = $2 RETURNING `+userCols, id, *hash, t.now(), newHash))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errBadCredentials()
	}
	return u, err
}

func errUserNotFound() error {
	return errs.New(errs.NotFound, "user_not_found", "no such user")
}

// ChangePassword replaces a user's password after checking the current
// one (Unauthorized "invalid_credentials" when wrong). Every pending reset
// and magic link of the user stops working.
func (t *Tenant) ChangePassword(ctx context.Context, id uuid.UUID, current, next string) (*User, error) {
	if err := ValidatePassword(next); err != nil {
		return nil, err
	}
	if current == "" {
		return nil, errs.New(errs.Invalid, "invalid_password", "current_password is required")
	}
	var hash *string
	err := t.run(ctx, func() error {
		return t.pool.QueryRow(ctx, `SELECT password_hash FROM public.auth_users WHERE id = $1`, id).Scan(&hash)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errUserNotFound()
	}
	if err != nil {
		return nil, err
	}
	if hash == nil {
		return nil, errs.New(errs.Invalid, "no_password", "the user has no password yet (a magic-link user); use set-password")
	}
	ok, _, err := t.s.h.verify(ctx, current, *hash)
	if err != nil && errs.As(err).Kind == errs.Unavailable {
		return nil, err
	}
	if err != nil || !ok {
		return nil, errBadCredentials()
	}
	newHash, err := t.s.h.hash(ctx, next)
	if err != nil {
		return nil, err
	}
	return t.setHash(ctx, id, hash, newHash, false)
}

// SetPassword gives a user a password (an admin action: no current password
// is asked), for example a magic-link user; has_password becomes true.
// Every pending reset and magic link of the user stops working.
func (t *Tenant) SetPassword(ctx context.Context, id uuid.UUID, password string) (*User, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	newHash, err := t.s.h.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	return t.setHash(ctx, id, nil, newHash, false)
}

// setHash stores a new hash (only if the old one is still old, when given)
// and deletes the user's tokens, in one transaction.
func (t *Tenant) setHash(ctx context.Context, id uuid.UUID, old *string, newHash string, verify bool) (*User, error) {
	var u *User
	err := t.run(ctx, func() error {
		return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
			var err error
			now := t.now()
			u, err = scanUser(tx.QueryRow(ctx, `UPDATE public.auth_users SET password_hash = $2, updated_at = $3,
				email_verified = email_verified OR $5, verified_at = CASE WHEN $5 THEN COALESCE(verified_at, $3) ELSE verified_at END
				WHERE id = $1 AND ($4::text IS NULL OR password_hash = $4) RETURNING `+userCols, id, newHash, now, old, verify))
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM public.auth_tokens WHERE user_id = $1 OR pg_catalog.lower(email) = pg_catalog.lower($2)`, id, u.Email)
			return err
		})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if old != nil {
			return nil, errs.New(errs.Conflict, "password_changed", "the password was changed by another request; try again")
		}
		return nil, errUserNotFound()
	}
	return u, err
}

// Pending is a token just issued by RequestReset or RequestMagicLink: the
// caller mails Token to Email and forgets it (only its hash is stored).
type Pending struct {
	Token     string
	Email     string  // the address to write to, as stored
	Name      *string // the user's name, when known
	ExpiresAt time.Time
	TTL       time.Duration
}

// LogValue keeps the token out of logs.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", p.Email), slog.Time("expires_at", p.ExpiresAt))
}

// RequestReset issues a password-reset token for the user with this email,
// valid for Config.ResetTTL, that sends the user to redirect (already
// resolved by ResolveRedirect) with ?token=. It returns nil, nil when no user
// has the email: the caller answers the same either way.
func (t *Tenant) RequestReset(ctx context.Context, email, redirect string) (*Pending, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	token, hash := newToken()
	now := t.now()
	p := &Pending{Token: token, ExpiresAt: now.Add(t.s.cfg.ResetTTL), TTL: t.s.cfg.ResetTTL}
	err = t.run(ctx, func() error {
		err := t.pool.QueryRow(ctx, `INSERT INTO public.auth_tokens (token_hash, purpose, email, user_id, name, redirect_url, created_at, expires_at)
			SELECT $1, 'reset', u.email, u.id, u.name, $3, $4, $5 FROM public.auth_users u
			WHERE pg_catalog.lower(u.email) = pg_catalog.lower($2)
			RETURNING email, name`, hash, email, redirect, now, p.ExpiresAt).Scan(&p.Email, &p.Name)
		if err != nil {
			return err
		}
		return t.sweep(ctx, now)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// sweep deletes tokens that expired more than a day ago (expired ones are
// kept a day to tell "expired" from "invalid").
func (t *Tenant) sweep(ctx context.Context, now time.Time) error {
	_, err := t.pool.Exec(ctx, `DELETE FROM public.auth_tokens WHERE expires_at < $1`, now.Add(-24*time.Hour))
	return err
}

// RequestMagicLink issues a sign-in token for email, valid for
// Config.MagicLinkTTL, that sends the user to redirect (already resolved by
// ResolveRedirect). The user need not exist: VerifyMagicLink creates it,
// with name.
func (t *Tenant) RequestMagicLink(ctx context.Context, email string, name *string, redirect string) (*Pending, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	token, hash := newToken()
	now := t.now()
	p := &Pending{Token: token, ExpiresAt: now.Add(t.s.cfg.MagicLinkTTL), TTL: t.s.cfg.MagicLinkTTL}
	err = t.run(ctx, func() error {
		err := t.pool.QueryRow(ctx, `WITH u AS (SELECT id, email, name FROM public.auth_users WHERE pg_catalog.lower(email) = pg_catalog.lower($2))
			INSERT INTO public.auth_tokens (token_hash, purpose, email, user_id, name, redirect_url, created_at, expires_at)
			VALUES ($1, 'magic_link', COALESCE((SELECT email FROM u), $2), (SELECT id FROM u), COALESCE((SELECT name FROM u), $3), $4, $5, $6)
			RETURNING email, name`, hash, email, name, redirect, now, p.ExpiresAt).Scan(&p.Email, &p.Name)
		if err != nil {
			return err
		}
		return t.sweep(ctx, now)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func errInvalidToken() error {
	return errs.New(errs.Invalid, "invalid_token", "the link is invalid or was already used; ask for a new one")
}

func errExpiredToken() error {
	return errs.New(errs.Invalid, "expired_token", "the link has expired; ask for a new one")
}

func errRedirectMismatch() error {
	return errs.New(errs.Invalid, "redirect_mismatch", "the redirect does not match the one the link was issued for")
}

// VerifyMagicLink redeems a magic-link token, once: the user is created
// when missing (with the name given to RequestMagicLink), the email is
// marked verified and the login counted. It returns the user and the URL to
// send them to: the token's redirect with ?user_id=...&verified=true&code=...,
// where code is a fresh one-time exchange code for this user (valid for
// Config.ExchangeCodeTTL; see ExchangeCode). user_id and verified are what
// the API reference promises; only the code proves anything, since anyone
// can type the others into a URL.
// redirect, when not empty, must equal the one the token was issued for
// (links carry it); the stored one is used either way, so a link cannot be
// turned into an open redirect. Errors (all Invalid, 400): "invalid_token"
// (unknown, used or malformed), "expired_token", "redirect_mismatch".
func (t *Tenant) VerifyMagicLink(ctx context.Context, token, redirect string) (*User, string, error) {
	if !wellFormedToken(token) {
		return nil, "", errInvalidToken()
	}
	var (
		u      *User
		target string
		code   string
	)
	err := t.run(ctx, func() error {
		return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
			var (
				email   string
				name    *string
				expires time.Time
			)
			err := tx.QueryRow(ctx, `DELETE FROM public.auth_tokens WHERE token_hash = $1 AND purpose = 'magic_link'
				RETURNING email, name, redirect_url, expires_at`, hashToken(token)).Scan(&email, &name, &target, &expires)
			if errors.Is(err, pgx.ErrNoRows) {
				return errInvalidToken()
			}
			if err != nil {
				return err
			}
			if redirect != "" && redirect != target {
				return errRedirectMismatch() // rolls back: the token stays usable
			}
			now := t.now()
			if !now.Before(expires) {
				return errExpiredToken() // rolled back; swept later
			}
			u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO public.auth_users AS a
				(id, email, name, email_verified, verified_at, login_count, last_login_at, created_at, updated_at)
				VALUES ($1, $2, $3, true, $4, 1, $4, $4, $4)
				ON CONFLICT ((pg_catalog.lower(email))) DO UPDATE SET
					email_verified = true, verified_at = COALESCE(a.verified_at, EXCLUDED.verified_at),
					login_count = a.login_count + 1, last_login_at = EXCLUDED.last_login_at,
					name = COALESCE(a.name, EXCLUDED.name)
				RETURNING `+userCols, uuid.New(), email, name, now))
			if err != nil {
				return err
			}
			var codeHash []byte
			code, codeHash = newToken()
			_, err = tx.Exec(ctx, `INSERT INTO public.auth_tokens (token_hash, purpose, email, user_id, name, redirect_url, created_at, expires_at)
				VALUES ($1, 'exchange', $2, $3, $4, $5, $6, $7)`, codeHash, u.Email, u.ID, u.Name, target, now, now.Add(t.s.cfg.ExchangeCodeTTL))
			return err
		})
	})
	if err != nil {
		return nil, "", err
	}
	return u, withQuery(target, "user_id", u.ID.String(), "verified", "true", "code", code), nil
}

func errInvalidCode() error {
	return errs.New(errs.Unauthorized, "invalid_code", "the code is invalid, expired or already used; sign in again")
}

// ExchangeCode redeems the one-time code that VerifyMagicLink put in the
// redirect and returns the user it was issued for. The app's server calls
// it (with its API key) before it trusts the redirect's user_id: the code is
// 256 random bits, stored only as its SHA-256, lives Config.ExchangeCodeTTL
// and is deleted by the same statement that reads it, so of two concurrent
// exchanges one wins. An unknown, used, expired or malformed code (or one
// from another project's database) is Unauthorized "invalid_code", the same
// error in every case.
func (t *Tenant) ExchangeCode(ctx context.Context, code string) (*User, error) {
	if !wellFormedToken(code) {
		return nil, errInvalidCode()
	}
	var (
		u       *User
		expires time.Time
	)
	err := t.run(ctx, func() error {
		var err error
		u, err = scanUser(t.pool.QueryRow(ctx, `WITH c AS (
				DELETE FROM public.auth_tokens WHERE token_hash = $1 AND purpose = 'exchange'
				RETURNING user_id, expires_at)
			SELECT `+userCols+`, c.expires_at FROM c JOIN public.auth_users u ON u.id = c.user_id`, hashToken(code)), &expires)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errInvalidCode()
	}
	if err != nil {
		return nil, err
	}
	if !t.now().Before(expires) {
		return nil, errInvalidCode() // deleted all the same: it can never be used
	}
	return u, nil
}

// CheckReset looks at a reset token without using it and returns the URL
// to send the user to: the token's redirect with ?token=, where the
// project's page asks for the new password and calls ConfirmReset. redirect
// is checked as in VerifyMagicLink. Errors as VerifyMagicLink's.
func (t *Tenant) CheckReset(ctx context.Context, token, redirect string) (string, error) {
	if !wellFormedToken(token) {
		return "", errInvalidToken()
	}
	var (
		target  string
		expires time.Time
	)
	err := t.run(ctx, func() error {
		return t.pool.QueryRow(ctx, `SELECT redirect_url, expires_at FROM public.auth_tokens WHERE token_hash = $1 AND purpose = 'reset'`,
			hashToken(token)).Scan(&target, &expires)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errInvalidToken()
	}
	if err != nil {
		return "", err
	}
	if redirect != "" && redirect != target {
		return "", errRedirectMismatch()
	}
	if !t.now().Before(expires) {
		return "", errExpiredToken()
	}
	return withQuery(target, "token", token), nil
}

// ConfirmReset redeems a reset token, once, and sets the user's password
// (which also proves the email: it is marked verified). Every other pending
// token of the user stops working. Errors: Invalid "invalid_token",
// "expired_token", or a password rule.
func (t *Tenant) ConfirmReset(ctx context.Context, token, password string) (*User, error) {
	if !wellFormedToken(token) {
		return nil, errInvalidToken()
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	hash := hashToken(token)
	// Look before hashing, so junk tokens cost no hash.
	var expires time.Time
	err := t.run(ctx, func() error {
		return t.pool.QueryRow(ctx, `SELECT expires_at FROM public.auth_tokens WHERE token_hash = $1 AND purpose = 'reset'`, hash).Scan(&expires)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errInvalidToken()
	}
	if err != nil {
		return nil, err
	}
	if !t.now().Before(expires) {
		return nil, errExpiredToken()
	}
	newHash, err := t.s.h.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	var u *User
	err = t.run(ctx, func() error {
		return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
			var id *uuid.UUID
			err := tx.QueryRow(ctx, `DELETE FROM public.auth_tokens WHERE token_hash = $1 AND purpose = 'reset'
				RETURNING user_id, expires_at`, hash).Scan(&id, &expires)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && id == nil {
				return errInvalidToken()
			}
			if err != nil {
				return err
			}
			now := t.now()
			if !now.Before(expires) {
				return errExpiredToken()
			}
			u, err = scanUser(tx.QueryRow(ctx, `UPDATE public.auth_users SET password_hash = $2, updated_at = $3,
				email_verified = true, verified_at = COALESCE(verified_at, $3)
				WHERE id = $1 RETURNING `+userCols, *id, newHash, now))
			if errors.Is(err, pgx.ErrNoRows) {
				return errInvalidToken()
			}
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM public.auth_tokens WHERE user_id = $1 OR pg_catalog.lower(email) = pg_catalog.lower($2)`, u.ID, u.Email)
			return err
		})
	})
	return u, err
}

// ListOptions select a page of users.
type ListOptions struct {
	Limit        int // 1..1000, default 50
	Offset       int
	VerifiedOnly bool
}

// Default and maximum page sizes of Users.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// UserList is a page of users, newest first, with the total that match.
type UserList struct {
	Users  []User `json:"users"`
	Total  int64  `json:"total"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
}

// Users lists users, newest first.
func (t *Tenant) Users(ctx context.Context, o ListOptions) (*UserList, error) {
	if o.Limit == 0 {
		o.Limit = DefaultListLimit
	}
	if o.Limit < 1 || o.Limit > MaxListLimit {
		return nil, errs.New(errs.Invalid, "invalid_limit", "limit must be between 1 and %d", MaxListLimit)
	}
	if o.Offset < 0 {
		return nil, errs.New(errs.Invalid, "invalid_offset", "offset must not be negative")
	}
	out := &UserList{Users: []User{}, Limit: o.Limit, Offset: o.Offset}
	err := t.run(ctx, func() error {
		out.Users = out.Users[:0]
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_catalog.count(*) FROM public.auth_users WHERE NOT $1 OR email_verified`, o.VerifiedOnly).QueryRow(func(r pgx.Row) error {
			return r.Scan(&out.Total)
		})
		b.Queue(`SELECT `+userCols+` FROM public.auth_users WHERE NOT $1 OR email_verified
			ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`, o.VerifiedOnly, o.Limit, o.Offset).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				u, err := scanUser(rows)
				if err != nil {
					return err
				}
				out.Users = append(out.Users, *u)
			}
			return rows.Err()
		})
		return t.pool.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// User returns one user; NotFound "user_not_found" when there is none.
func (t *Tenant) User(ctx context.Context, id uuid.UUID) (*User, error) {
	var u *User
	err := t.run(ctx, func() error {
		var err error
		u, err = scanUser(t.pool.QueryRow(ctx, `SELECT `+userCols+` FROM public.auth_users WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errUserNotFound()
	}
	return u, err
}

// UserPatch changes a user's profile. A nil field is left alone; an empty
// Name or AvatarURL clears it; Metadata replaces the whole object.
type UserPatch struct {
	Name      *string
	AvatarURL *string
	Metadata  json.RawMessage
}

// UpdateUser applies a patch and returns the user.
func (t *Tenant) UpdateUser(ctx context.Context, id uuid.UUID, p UserPatch) (*User, error) {
	if p.Name == nil && p.AvatarURL == nil && p.Metadata == nil {
		return nil, errs.New(errs.Invalid, "nothing_to_update", "give at least one of name, metadata, avatar_url")
	}
	if err := checkName(p.Name); err != nil {
		return nil, err
	}
	if err := checkAvatar(p.AvatarURL); err != nil {
		return nil, err
	}
	var meta *string
	if p.Metadata != nil {
		m, err := checkMetadata(p.Metadata)
		if err != nil {
			return nil, err
		}
		s := string(m)
		meta = &s
	}
	var u *User
	err := t.run(ctx, func() error {
		var err error
		u, err = scanUser(t.pool.QueryRow(ctx, `UPDATE public.auth_users SET
			name = CASE WHEN $2::text IS NULL THEN name ELSE NULLIF($2, '') END,
			avatar_url = CASE WHEN $3::text IS NULL THEN avatar_url ELSE NULLIF($3, '') END,
			metadata = COALESCE($4::jsonb, metadata),
			updated_at = $5
			WHERE id = $1 RETURNING `+userCols, id, p.Name, p.AvatarURL, meta, t.now()))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errUserNotFound()
	}
	return u, err
}

// DeleteUser deletes a user and their pending tokens.
func (t *Tenant) DeleteUser(ctx context.Context, id uuid.UUID) error {
	return t.run(ctx, func() error {
		return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
			var email string
			err := tx.QueryRow(ctx, `DELETE FROM public.auth_users WHERE id = $1 RETURNING email`, id).Scan(&email)
			if errors.Is(err, pgx.ErrNoRows) {
				return errUserNotFound()
			}
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM public.auth_tokens WHERE pg_catalog.lower(email) = pg_catalog.lower($1)`, email)
			return err
		})
	})
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// dbErr maps a tenant-database failure to an *errs.Error. The tables are
// the tenant's, so a PostgreSQL error there (a trigger of theirs, a column
// they changed) is theirs to see: Invalid with the server's message.
func (t *Tenant) dbErr(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	if c := pgCode(err); c == "28P01" || c == "3D000" || c == "28000" {
		// The database or role is gone (the project was deleted or re-created).
		return errs.Wrap(errs.NotFound, err, "project_not_found", "the project's database is gone")
	}
	switch {
	case errors.Is(err, puddle.ErrClosedPool):
		// The pool was closed under us: the project was deleted, or the
		// pool evicted. The caller gets a fresh pool and tries again.
		return errs.Wrap(errs.Unavailable, err, "pool_closed", "the project's database connections were closed; try again")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled or timed out")
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Wrap(errs.Unavailable, err, "database_unavailable", "the project's database is unavailable")
	case errors.As(err, &pe):
		switch {
		case pe.Code == "57014" || pe.Code == "55P03" || pe.Code == "53300" || pe.Code[:2] == "08" || pe.Code[:2] == "57":
			return errs.Wrap(errs.Unavailable, err, "database_unavailable", "the project's database is unavailable or busy (SQLSTATE %s)", pe.Code)
		}
		return &errs.Error{Kind: errs.Invalid, Code: "auth_database_error", Err: err, Fields: map[string]any{"code": pe.Code},
			Detail: "the project's database refused an auth query (are the auth tables or a trigger on them changed?): " + pe.Message}
	}
	return errs.Internalf(err, "auth query")
}
