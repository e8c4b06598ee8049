package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/mosaic-platform/mosaic/errs"
)

// Password length rules, in characters (Unicode code points). A password is
// never truncated: every byte of it is hashed (argon2id has no length
// limit). An imported bcrypt hash only covers 72 bytes, so a password longer
// than 72 bytes never verifies against one (bcrypt refuses it) rather than
// matching on its prefix.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// Params are argon2id parameters. They are stored in every hash (PHC
// string format), so they can be raised later: a login whose hash was made
// with other parameters (or is an imported bcrypt hash) is re-hashed with the
// current ones.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams are OWASP's argon2id parameters: m=19 MiB, t=2, p=1
// (about 20 ms per hash on one core of the development machine).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds on hashes read from a tenant's table. The table is the tenant's
// (it may import hashes or write anything), so a hash that asks for more
// than this is refused instead of being computed.
const (
	maxMemoryKiB   = 256 * 1024
	maxTime        = 16
	maxThreads     = 16
	maxBcryptCost  = 14
	saltLen        = 16
	keyLen         = 32
	maxEncodedHash = 512
)

func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

func (p Params) valid() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id threads %d out of 1..%d", p.Threads, maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d out of 1..%d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB out of %d..%d", p.Memory, 8*uint32(p.Threads), maxMemoryKiB)
	}
	return nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return errs.New(errs.Invalid, "password_too_short", "the password must be at least %d characters", MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return errs.New(errs.Invalid, "password_too_long", "the password must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

// hasher hashes and verifies passwords with a bounded number of hashes in
// flight: each argon2id hash holds Params.Memory for its duration, so a
// flood of logins queues here instead of growing the heap.
type hasher struct {
	params Params
	sem    chan struct{}

	dummyOnce sync.Once
	dummy     string
}

func newHasher(p Params, concurrency int) *hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return &hasher{params: p, sem: make(chan struct{}, concurrency)}
}

// acquire takes a hashing slot, or fails when ctx ends first.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "busy", "the server is busy hashing passwords; try again")
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the PHC string of pw with the current parameters.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return encodeArgon2(pw, h.params), nil
}

func encodeArgon2(pw string, p Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) + "$" + p.String() + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

// verify reports whether pw matches encoded, and whether encoded should be
// replaced by a hash with the current parameters. An encoded value that is
// not a hash this package accepts never matches (err says why, for logs).
func (h *hasher) verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		ph, err := parseArgon2(encoded)
		if err != nil {
			return false, false, err
		}
		key := argon2.IDKey([]byte(pw), ph.salt, ph.params.Time, ph.params.Memory, ph.params.Threads, uint32(len(ph.key)))
		ok := subtle.ConstantTimeCompare(key, ph.key) == 1
		return ok, ok && (ph.params != h.params || len(ph.key) != keyLen || len(ph.salt) != saltLen), nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return false, false, err
		}
		if cost > maxBcryptCost {
			return false, false, fmt.Errorf("bcrypt cost %d is over %d", cost, maxBcryptCost)
		}
		if len(pw) > 72 {
			// bcrypt reads only 72 bytes: a longer password never
			// matches, rather than matching on its prefix.
			return false, false, nil
		}
		err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		if err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || errors.Is(err, bcrypt.ErrPasswordTooLong) {
				return false, false, nil
			}
			return false, false, err
		}
		return true, true, nil
	}
	return false, false, errors.New("not an argon2id or bcrypt hash")
}

// verifyDummy spends the time of a verification against a hash with the
// current parameters, for a login whose email has no password, so that it
// answers in the same time as a wrong password.
func (h *hasher) verifyDummy(ctx context.Context, pw string) error {
	h.dummyOnce.Do(func() { h.dummy = encodeArgon2("mosaic-dummy-password", h.params) })
	_, _, err := h.verify(ctx, pw, h.dummy)
	return err
}

type phc struct {
	params    Params
	salt, key []byte
}

// parseArgon2 reads $argon2id$v=19$m=..,t=..,p=..$salt$key, refusing
// parameters outside the package's bounds.
func parseArgon2(s string) (*phc, error) {
	if len(s) > maxEncodedHash {
		return nil, errors.New("argon2id hash too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New("malformed argon2id hash")
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errors.New("malformed argon2id parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errors.New("malformed argon2id parameters")
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return nil, errors.New("malformed argon2id parameters")
			}
			p.Threads = uint8(n)
		default:
			return nil, errors.New("malformed argon2id parameters")
		}
	}
	if err := p.valid(); err != nil {
		return nil, err
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return nil, errors.New("malformed argon2id salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return nil, errors.New("malformed argon2id key")
	}
	return &phc{params: p, salt: salt, key: key}, nil
}
