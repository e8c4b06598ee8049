package mosaic

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
)

// Account owns projects, tickets and API keys.
type Account struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is an API key's metadata. The key itself is shown once, when it is
// made, and stored only as a SHA-256 hash.
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	AccountID  uuid.UUID  `json:"account_id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ReplacedBy *uuid.UUID `json:"replaced_by,omitempty"`
}

// Principal is an authenticated caller: an account and the key it used.
type Principal struct {
	Account Account `json:"account"`
	Key     APIKey  `json:"key"`
}

const (
	keyPrefix    = "mk_"
	keyBodyLen   = 40 // base62 characters: ~238 bits
	keyShownLen  = len(keyPrefix) + 8
	minKeyLen    = len(keyPrefix) + 32
	maxKeyLen    = 128
	touchEvery   = time.Minute
	base62       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	keyCharsRule = "mk_ followed by at least 32 letters, digits, '-' or '_'"
)

// newKey returns a fresh API key: "mk_" and 40 base62 characters from crypto/rand.
func newKey() string {
	b := make([]byte, keyBodyLen)
	out := make([]byte, 0, len(keyPrefix)+keyBodyLen)
	out = append(out, keyPrefix...)
	for len(out) < cap(out) {
		rand.Read(b)
		for _, c := range b {
			if c < 248 && len(out) < cap(out) { // 248 = 4*62: no modulo bias
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// ValidKeyFormat reports whether s looks like an API key.
func ValidKeyFormat(s string) bool {
	if len(s) < minKeyLen || len(s) > maxKeyLen || !strings.HasPrefix(s, keyPrefix) {
		return false
	}
	for _, c := range []byte(s[len(keyPrefix):]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateAccount makes an account. The email must be unique.
func (p *Platform) CreateAccount(ctx context.Context, email, name string) (*Account, error) {
	email = strings.TrimSpace(strings.ToLower(email))
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") {
		return nil, errs.New(errs.Invalid, "invalid_email", "an account needs a valid email address")
	}
	a := &Account{ID: uuid.New(), Email: email, Name: strings.TrimSpace(name)}
	err := p.db.QueryRow(ctx, `INSERT INTO mosaic.accounts (id, email, name) VALUES ($1, $2, $3) RETURNING created_at`,
		a.ID, a.Email, a.Name).Scan(&a.CreatedAt)
	if isUniqueViolation(err) {
		return nil, errs.New(errs.Conflict, "account_exists", "an account with email %s already exists", email)
	}
	if err != nil {
		return nil, dbError(err, "create account")
	}
	return a, nil
}

// AccountByEmail finds an account by email.
func (p *Platform) AccountByEmail(ctx context.Context, email string) (*Account, error) {
	a := &Account{}
	err := p.db.QueryRow(ctx, `SELECT id, email, name, created_at FROM mosaic.accounts WHERE email = $1`,
		strings.TrimSpace(strings.ToLower(email))).Scan(&a.ID, &a.Email, &a.Name, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.New(errs.NotFound, "account_not_found", "no account with email %s", email)
	}
	if err != nil {
		return nil, dbError(err, "find account")
	}
	return a, nil
}

// CreateAPIKey makes a key for an account. It returns the key, which is not
// stored and cannot be shown again, and its metadata. ttl <= 0 means the
// platform's KeyTTL.
func (p *Platform) CreateAPIKey(ctx context.Context, account uuid.UUID, name string, ttl time.Duration) (string, *APIKey, error) {
	key := newKey()
	k, err := p.insertKey(ctx, p.db, account, key, name, ttl)
	if err != nil {
		return "", nil, err
	}
	return key, k, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (p *Platform) insertKey(ctx context.Context, q querier, account uuid.UUID, key, name string, ttl time.Duration) (*APIKey, error) {
	if ttl <= 0 {
		ttl = p.cfg.KeyTTL
	}
	now := p.now()
	k := &APIKey{ID: uuid.New(), AccountID: account, Prefix: key[:keyShownLen], Name: name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := q.QueryRow(ctx, `INSERT INTO mosaic.api_keys (id, account_id, prefix, hash, name, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
		k.ID, account, k.Prefix, hashKey(key), name, now, k.ExpiresAt).Scan(&k.CreatedAt)
	if isForeignKeyViolation(err) {
		return nil, errs.New(errs.NotFound, "account_not_found", "no such account")
	}
	if isUniqueViolation(err) {
		return nil, errs.New(errs.Conflict, "key_exists", "this API key is already registered")
	}
	if err != nil {
		return nil, dbError(err, "create API key")
	}
	return k, nil
}

// EnsureAPIKey registers a key chosen by the operator (MOSAIC_API_KEY) for
// the first account, making an account for email if there is none. If the key
// is already registered and not revoked, its expiry is pushed out to now+KeyTTL,
// so a server restarted with the same key keeps accepting it.
func (p *Platform) EnsureAPIKey(ctx context.Context, key, email string) (*Principal, error) {
	if !ValidKeyFormat(key) {
		return nil, errs.New(errs.Invalid, "invalid_key_format", "an API key must be %s", keyCharsRule)
	}
	tag, err := p.db.Exec(ctx, `UPDATE mosaic.api_keys SET expires_at = greatest(expires_at, $2)
		WHERE hash = $1 AND revoked_at IS NULL`, hashKey(key), p.now().Add(p.cfg.KeyTTL))
	if err != nil {
		return nil, dbError(err, "ensure API key")
	}
	p.forgetKeys()
	if tag.RowsAffected() == 0 {
		var account uuid.UUID
		err := p.db.QueryRow(ctx, `SELECT id FROM mosaic.accounts ORDER BY created_at, id LIMIT 1`).Scan(&account)
		if errors.Is(err, pgx.ErrNoRows) {
			a, err := p.CreateAccount(ctx, email, "admin")
			if err != nil {
				return nil, err
			}
			account = a.ID
		} else if err != nil {
			return nil, dbError(err, "find first account")
		}
		if _, err := p.insertKey(ctx, p.db, account, key, "bootstrap", 0); err != nil {
			return nil, err
		}
	}
	return p.Authenticate(ctx, key)
}

// authTTL is how long a resolved API key is reused without asking the
// control database. Expiry is still checked on every request against the
// cached expiry time; a revocation or rotation made by this process takes
// effect at once, one made by another replica within authTTL.
const authTTL = 5 * time.Second

type authEntry struct {
	pr      Principal
	fetched time.Time
}

// Authenticate resolves an API key to its account. A malformed, unknown,
// expired or revoked key is an Unauthorized error. Resolved keys are cached
// for authTTL (see there).
func (p *Platform) Authenticate(ctx context.Context, key string) (*Principal, error) {
	if !ValidKeyFormat(key) {
		return nil, errs.New(errs.Unauthorized, "invalid_api_key", "the API key is not valid")
	}
	hk := sha256.Sum256([]byte(key)) // hashKey's, without its allocation on the cached path
	now := p.now()
	if v, ok := p.authCache.Load(hk); ok {
		e := v.(*authEntry)
		if now.Sub(e.fetched) < authTTL && !now.Before(e.fetched.Add(-time.Second)) {
			pr := e.pr
			return p.checkKey(ctx, &pr, now)
		}
		p.authCache.Delete(hk)
	}
	var (
		pr     Principal
		stored []byte
		h      = hashKey(key) // a copy: a slice of hk would move hk to the heap
	)
	err := p.db.QueryRow(ctx, `SELECT k.hash, k.id, k.account_id, k.prefix, k.name, k.created_at, k.expires_at,
			k.revoked_at, k.last_used_at, k.replaced_by, a.email, a.name, a.created_at
		FROM mosaic.api_keys k JOIN mosaic.accounts a ON a.id = k.account_id WHERE k.hash = $1`, h).Scan(
		&stored, &pr.Key.ID, &pr.Key.AccountID, &pr.Key.Prefix, &pr.Key.Name, &pr.Key.CreatedAt, &pr.Key.ExpiresAt,
		&pr.Key.RevokedAt, &pr.Key.LastUsedAt, &pr.Key.ReplacedBy, &pr.Account.Email, &pr.Account.Name, &pr.Account.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(stored, h) != 1) {
		return nil, errs.New(errs.Unauthorized, "invalid_api_key", "the API key is not valid")
	}
	if err != nil {
		return nil, dbError(err, "authenticate")
	}
	pr.Account.ID = pr.Key.AccountID
	p.authCache.Store(hk, &authEntry{pr: pr, fetched: now})
	return p.checkKey(ctx, &pr, now)
}

func (p *Platform) checkKey(ctx context.Context, pr *Principal, now time.Time) (*Principal, error) {
	if pr.Key.RevokedAt != nil {
		return nil, errs.New(errs.Unauthorized, "api_key_revoked", "the API key has been revoked")
	}
	if !now.Before(pr.Key.ExpiresAt) {
		return nil, errs.New(errs.Unauthorized, "api_key_expired", "the API key expired at %s; rotate keys before they expire", pr.Key.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p.touchKey(ctx, pr.Key.ID, now)
	return pr, nil
}

// forgetKeys empties the authentication cache after a key changed.
func (p *Platform) forgetKeys() { p.authCache.Clear() }

// touchKey records last_used_at, at most once a minute per key and process.
func (p *Platform) touchKey(ctx context.Context, id uuid.UUID, now time.Time) {
	if last, ok := p.keyTouch.Load(id); ok && now.Sub(last.(time.Time)) < touchEvery {
		return
	}
	p.keyTouch.Store(id, now)
	if _, err := p.db.Exec(ctx, `UPDATE mosaic.api_keys SET last_used_at = $2 WHERE id = $1`, id, now); err != nil {
		p.log.Debug("could not record key use", "key_id", id, "err", err)
	}
}

// RotateAPIKey makes a new key for the principal's account and lets the key
// the principal used expire after the rotation grace period (or at its own
// expiry, if sooner). It returns the new key once.
func (p *Platform) RotateAPIKey(ctx context.Context, pr *Principal) (string, *APIKey, *APIKey, error) {
	key := newKey()
	var (
		nk  *APIKey
		old APIKey
	)
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		var err error
		nk, err = p.insertKey(ctx, tx, pr.Account.ID, key, pr.Key.Name, 0)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `UPDATE mosaic.api_keys SET expires_at = least(expires_at, $2), replaced_by = $3
			WHERE id = $1 AND revoked_at IS NULL AND replaced_by IS NULL
			RETURNING id, account_id, prefix, name, created_at, expires_at, replaced_by`,
			pr.Key.ID, p.now().Add(p.cfg.KeyRotationGrace), nk.ID).Scan(
			&old.ID, &old.AccountID, &old.Prefix, &old.Name, &old.CreatedAt, &old.ExpiresAt, &old.ReplacedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.New(errs.Conflict, "already_rotated", "this API key was already rotated; use the newer key")
		}
		return err
	})
	if err != nil {
		return "", nil, nil, dbError(err, "rotate API key")
	}
	p.forgetKeys()
	return key, nk, &old, nil
}

// APIKeys lists the keys of an account, or of all accounts when account is uuid.Nil.
func (p *Platform) APIKeys(ctx context.Context, account uuid.UUID) ([]APIKey, error) {
	rows, err := p.db.Query(ctx, `SELECT id, account_id, prefix, name, created_at, expires_at, revoked_at, last_used_at, replaced_by
		FROM mosaic.api_keys WHERE $1::uuid IS NULL OR account_id = $1 ORDER BY created_at, id`, nullUUID(account))
	if err != nil {
		return nil, dbError(err, "list API keys")
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := r.Scan(&k.ID, &k.AccountID, &k.Prefix, &k.Name, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt, &k.ReplacedBy)
		return k, err
	})
	return keys, dbError(err, "list API keys")
}

// RevokeAPIKey revokes a key, named by its id or its shown prefix. Revoking
// twice is not an error. A prefix that matches several keys is a Conflict.
func (p *Platform) RevokeAPIKey(ctx context.Context, idOrPrefix string) (*APIKey, error) {
	var k APIKey
	var rows pgx.Rows
	var err error
	if id, perr := uuid.Parse(idOrPrefix); perr == nil {
		rows, err = p.db.Query(ctx, `UPDATE mosaic.api_keys SET revoked_at = coalesce(revoked_at, now())
			WHERE id = $1 RETURNING id, account_id, prefix, name, created_at, expires_at, revoked_at`, id)
	} else {
		if len(idOrPrefix) < keyShownLen {
			return nil, errs.New(errs.Invalid, "invalid_key_id", "name a key by its id or its %d-character prefix", keyShownLen)
		}
		rows, err = p.db.Query(ctx, `UPDATE mosaic.api_keys SET revoked_at = coalesce(revoked_at, now())
			WHERE prefix = $1 AND (SELECT count(*) FROM mosaic.api_keys WHERE prefix = $1) = 1
			RETURNING id, account_id, prefix, name, created_at, expires_at, revoked_at`, idOrPrefix[:keyShownLen])
	}
	if err != nil {
		return nil, dbError(err, "revoke API key")
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		err := r.Scan(&k.ID, &k.AccountID, &k.Prefix, &k.Name, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, dbError(err, "revoke API key")
	}
	if len(got) == 0 {
		return nil, errs.New(errs.NotFound, "key_not_found", "no single API key matches %q", idOrPrefix)
	}
	p.keyTouch.Delete(got[0].ID)
	p.forgetKeys()
	return &got[0], nil
}

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// Accounts lists all accounts, oldest first.
func (p *Platform) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := p.db.Query(ctx, `SELECT id, email, name, created_at FROM mosaic.accounts ORDER BY created_at, id`)
	if err != nil {
		return nil, dbError(err, "list accounts")
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) {
		var a Account
		return a, r.Scan(&a.ID, &a.Email, &a.Name, &a.CreatedAt)
	})
	return as, dbError(err, "list accounts")
}
