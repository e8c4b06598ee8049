package storage

import (
	"context"
	"io"
	"iter"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic/errs"
)

// Store holds objects in buckets and hands out presigned URLs to them. Keys
// are checked with CheckKey by every method; a missing object is an
// *errs.Error of kind NotFound, a backend that cannot be reached one of kind
// Unavailable.
type Store interface {
	// PresignPut returns a URL to which a client may PUT one object, without
	// credentials, until o.Expires has passed. The URL is bound to the
	// method, the bucket and key, o.ContentType (the PUT must send exactly
	// that Content-Type) and, when o.Size > 0, the body's length.
	PresignPut(ctx context.Context, bucket, key string, o PutOptions) (*url.URL, error)
	// PresignGet returns a URL that reads one object (GET or HEAD) until
	// expires has passed.
	PresignGet(ctx context.Context, bucket, key string, expires time.Duration) (*url.URL, error)
	// Put writes an object of size bytes (-1: unknown) from r, replacing
	// any object of that key. Readers never see a partial object.
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error
	// Get opens an object. The reader also implements io.Seeker for both
	// implementations of this package (range requests need it); the
	// caller closes it.
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes an object without reading it.
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// List yields the objects whose keys start with prefix, in key order.
	List(ctx context.Context, bucket, prefix string) iter.Seq2[ObjectInfo, error]
	// Delete removes an object. Deleting a missing object is not an error.
	Delete(ctx context.Context, bucket, key string) error
}

// BucketMaker is implemented by stores whose buckets must be created before
// use (S3). The platform calls it once before the first write.
type BucketMaker interface {
	MakeBucket(ctx context.Context, bucket string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ContentType  string
	LastModified time.Time
	// ETag identifies the content (unquoted; for both stores here the hex
	// MD5 of a single-part object).
	ETag string
}

// PutOptions bind a presigned PUT.
type PutOptions struct {
	// Expires is how long the URL works: 1 second to MaxExpires.
	Expires time.Duration
	// ContentType is the Content-Type the PUT must send (default
	// "application/octet-stream").
	ContentType string
	// Size, when > 0, is the exact length the body must have.
	Size int64
	// MaxSize, when > 0 and Size is 0, caps the body's length. Only stores
	// that serve their own URLs (Local) can enforce it; S3 ignores it.
	MaxSize int64
}

// MaxExpires is the longest a presigned URL may live (S3's limit).
const MaxExpires = 7 * 24 * time.Hour

// MaxKeyBytes is the longest key CheckKey accepts.
const MaxKeyBytes = 1024

// DefaultContentType is the type of an object stored without one.
const DefaultContentType = "application/octet-stream"

// CheckKey reports why key cannot name an object, as an Invalid error with
// code "invalid_key", or nil. A key is 1 to MaxKeyBytes bytes of UTF-8
// without control characters or backslashes; it is relative (no leading
// "/"), has no empty segment ("a//b", trailing "/") and no "." or ".."
// segment. Nothing is normalised: a key is used exactly as given or
// refused.
func CheckKey(key string) error {
	bad := func(why string) error {
		return errs.New(errs.Invalid, "invalid_key", "invalid file name %s: %s", quoteKey(key), why)
	}
	switch {
	case key == "":
		return errs.New(errs.Invalid, "invalid_key", "a file name is required")
	case len(key) > MaxKeyBytes:
		return errs.New(errs.Invalid, "invalid_key", "a file name has at most %d bytes (this one has %d)", MaxKeyBytes, len(key))
	case !utf8.ValidString(key):
		return bad("it is not valid UTF-8")
	case key[0] == '/':
		return bad("it must be relative (no leading /)")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("it contains a control character")
		}
		if r == '\\' {
			return bad(`it contains a backslash; use "/" to separate folders`)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad(`it has an empty path segment ("//" or a trailing "/")`)
		case ".", "..":
			return bad(`"." and ".." segments are not allowed`)
		}
	}
	return nil
}

// CheckPrefix checks a listing prefix: "" or a key prefix that would pass
// CheckKey were a name appended (a trailing "/" is allowed).
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	k := prefix
	if strings.HasSuffix(k, "/") {
		k += "x"
	}
	if err := CheckKey(k); err != nil {
		return errs.New(errs.Invalid, "invalid_prefix", "invalid prefix %s: %s", quoteKey(prefix), strings.TrimPrefix(errs.As(err).Detail, "invalid file name "+quoteKey(k)+": "))
	}
	return nil
}

// quoteKey quotes a key for an error message, shortened when long.
func quoteKey(k string) string {
	if len(k) > 80 {
		k = k[:80] + "..."
	}
	return strings.ToValidUTF8(fmtQ(k), "?")
}

func fmtQ(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CheckBucket checks an S3 bucket name: 3 to 63 lowercase letters, digits,
// dots and hyphens, starting and ending with a letter or digit.
func CheckBucket(b string) error {
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' || c == '.') && i > 0 && i < len(b)-1
	}
	if !ok || strings.Contains(b, "..") {
		return errs.New(errs.Invalid, "invalid_bucket", "invalid bucket name %q: use 3 to 63 lowercase letters, digits, dots and hyphens", b)
	}
	return nil
}

// checkExpires validates a presigned URL's lifetime.
func checkExpires(d time.Duration) error {
	if d < time.Second || d > MaxExpires {
		return errs.New(errs.Invalid, "invalid_expires", "a presigned URL lives from 1 second to 7 days; got %s", d)
	}
	return nil
}

// CheckExpires is checkExpires for other Store implementations.
func CheckExpires(d time.Duration) error { return checkExpires(d) }

// NotFound is the error of a missing object.
func NotFound(key string) error {
	return errs.New(errs.NotFound, "file_not_found", "file %s not found", quoteKey(key))
}
