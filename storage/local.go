package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/internal/hmacsha256"
)

// LocalConfig configures a Local store.
type LocalConfig struct {
	// Dir holds the objects (created if missing). Required.
	Dir string
	// BaseURL is where Local's Handler is served, for example
	// "http://127.0.0.1:8080/s3": presigned URLs are BaseURL/<bucket>/<key>?...
	// Required for PresignPut and PresignGet.
	BaseURL string
	// Secret is the HMAC-SHA256 key that signs URLs: at least 16 bytes.
	// Keep it stable, or URLs already handed out stop working.
	Secret []byte
	// MaxObjectBytes caps one object written through a presigned URL
	// (default 5 GiB, S3's single-PUT limit).
	MaxObjectBytes int64
	// Now is the clock that URLs expire by (default time.Now).
	Now func() time.Time
}

// Local is a Store on the local filesystem, the embedded default when no S3
// server is configured. Each object is one file, Dir/objects/<bucket>/<key>,
// that starts with a short header (content type and MD5) followed by the
// bytes; writes go to Dir/tmp and are renamed into place, so a reader sees
// the old object or the new one, never a part. Every file access goes
// through an os.Root on Dir, so no key can reach outside it.
//
// Local serves its own presigned URLs: mount Handler at LocalConfig.BaseURL.
// A URL carries its expiry and an HMAC-SHA256 over the method, bucket, key,
// expiry, content type and size, so changing any of them, or using it late,
// gets 403.
//
// Two differences from S3: a key cannot be both an object and a "folder" of
// other keys ("a" and "a/b"; the second write is a Conflict, 409), and one
// segment of a key has at most 255 bytes (the filesystem's limit).
type Local struct {
	cfg       LocalConfig
	key       *hmacsha256.Key // cfg.Secret, for the URLs' signatures
	root      *os.Root
	dirf      *os.File // the same directory, for openBeneath (nil: use root)
	noOpenat2 atomic.Bool
	baseURL   *url.URL
}

var _ Store = (*Local)(nil)
var _ http.Handler = (*Local)(nil)

// NewLocal opens (creating if needed) a Local store in cfg.Dir.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: LocalConfig.Dir is required")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("storage: LocalConfig.Secret must be at least 16 bytes")
	}
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = 5 << 30
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Local{cfg: cfg}
	l.key = hmacsha256.New(cfg.Secret)
	if cfg.BaseURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("storage: LocalConfig.BaseURL %q is not an http(s) URL", cfg.BaseURL)
		}
		l.baseURL = u
	}
	for _, d := range []string{cfg.Dir, cfg.Dir + "/objects", cfg.Dir + "/tmp"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	l.root = root
	l.dirf = openDirHandle(cfg.Dir)
	return l, nil
}

// Close releases the store's directory handles.
func (l *Local) Close() error {
	if l.dirf != nil {
		l.dirf.Close()
	}
	return l.root.Close()
}

func objectPath(bucket, key string) string { return "objects/" + bucket + "/" + key }

func checkBK(bucket, key string) error {
	if err := CheckBucket(bucket); err != nil {
		return err
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegment {
			return errs.New(errs.Invalid, "invalid_key", "invalid file name %s: a folder or file name has at most %d bytes here", quoteKey(key), maxSegment)
		}
	}
	return nil
}

// maxSegment is the longest name of one path segment (NAME_MAX).
const maxSegment = 255

// CheckContentType validates a MIME type given by a client: 1 to 255
// printable ASCII characters, "type/subtype" with optional parameters.
func CheckContentType(ct string) error {
	if ct == "" || len(ct) > 255 {
		return errs.New(errs.Invalid, "invalid_content_type", "a content type has 1 to 255 characters")
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return errs.New(errs.Invalid, "invalid_content_type", "content type %q has a character that is not printable ASCII", ct)
		}
	}
	main, _, _ := strings.Cut(ct, ";")
	if t, s, ok := strings.Cut(strings.TrimSpace(main), "/"); !ok || t == "" || s == "" || strings.ContainsAny(t+s, " /") {
		return errs.New(errs.Invalid, "invalid_content_type", "content type %q is not of the form type/subtype", ct)
	}
	return nil
}

// ---- objects ----

const (
	headerMagic = "MOSAIC-OBJECT 1\n"
	maxHeader   = 1024
)

// header renders an object file's header; etag is 32 hex digits.
func header(contentType, etag string) []byte {
	return []byte(headerMagic + "content-type: " + contentType + "\netag: " + etag + "\n\n")
}

// readHeader parses the header at the start of f.
func readHeader(f io.ReaderAt) (contentType, etag string, n int64, err error) {
	buf := make([]byte, maxHeader)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", "", 0, err
	}
	buf = buf[:m]
	end := bytes.Index(buf, []byte("\n\n"))
	if !bytes.HasPrefix(buf, []byte(headerMagic)) || end < 0 {
		return "", "", 0, errors.New("not a Mosaic object file")
	}
	for line := range strings.SplitSeq(string(buf[len(headerMagic):end]), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "content-type":
			contentType = v
		case "etag":
			etag = v
		}
	}
	return contentType, etag, int64(end + 2), nil
}

// object is an open object: a section of its file after the header.
type object struct {
	*io.SectionReader
	f   *os.File
	off int64 // where the bytes start
}

func (o *object) Close() error { return o.f.Close() }

// fileAt positions the file at the object's first byte and returns it, so
// that a whole-object answer can go out with sendfile (see ServeObject).
func (o *object) fileAt() (*os.File, error) {
	_, err := o.f.Seek(o.off, io.SeekStart)
	return o.f, err
}

// Put writes the object to a temporary file and renames it into place.
func (l *Local) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	if err := checkBK(bucket, key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	if err := CheckContentType(contentType); err != nil {
		return err
	}
	_, err := l.put(ctx, bucket, key, r, size, contentType)
	return err
}

func (l *Local) put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error) {
	var rnd [12]byte
	rand.Read(rnd[:])
	tmp := "tmp/" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			l.root.Remove(tmp)
		}
	}()
	hdr := header(contentType, strings.Repeat("0", 32))
	w := bufio.NewWriterSize(f, 64<<10)
	if _, err := w.Write(hdr); err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, r})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ObjectInfo{}, errs.New(errs.TooLarge, "object_too_large", "the file is larger than %d bytes", mbe.Limit)
		}
		if e := (*errs.Error)(nil); errors.As(err, &e) {
			return ObjectInfo{}, err
		}
		return ObjectInfo{}, errs.Wrap(errs.Invalid, err, "upload_incomplete", "the upload was cut off before the whole body arrived")
	}
	if size >= 0 && n != size {
		return ObjectInfo{}, errs.New(errs.Invalid, "size_mismatch", "the body has %d bytes, not the %d announced", n, size)
	}
	if err := w.Flush(); err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	etag := hex.EncodeToString(h.Sum(nil))
	if _, err := f.WriteAt(header(contentType, etag), 0); err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	if err := f.Sync(); err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	if err := f.Close(); err != nil {
		return ObjectInfo{}, l.fsError(err, key)
	}
	dst := objectPath(bucket, key)
	// A concurrent Delete may remove the (empty) parent between MkdirAll and Rename: try again once.
	for attempt := 0; ; attempt++ {
		if err := l.root.MkdirAll(path.Dir(dst), 0o700); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return ObjectInfo{}, errs.New(errs.Conflict, "key_conflict", "a file already exists where %s needs a folder", quoteKey(key))
			}
			return ObjectInfo{}, l.fsError(err, key)
		}
		err := l.root.Rename(tmp, dst)
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && attempt == 0 {
			continue
		}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return ObjectInfo{}, errs.New(errs.Conflict, "key_conflict", "%s is a folder of other files", quoteKey(key))
		}
		return ObjectInfo{}, l.fsError(err, key)
	}
	done = true
	return ObjectInfo{Key: key, Size: n, ContentType: contentType, ETag: etag, LastModified: time.Now()}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}
	return c.r.Read(p)
}

// Get opens an object; the reader is an io.ReadSeeker and io.ReaderAt.
func (l *Local) Get(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkBK(bucket, key); err != nil {
		return nil, ObjectInfo{}, err
	}
	f, info, err := l.open(bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return f, info, nil
}

func (l *Local) open(bucket, key string) (*object, ObjectInfo, error) {
	f, err := l.openBeneath(objectPath(bucket, key))
	if err != nil {
		return nil, ObjectInfo{}, l.fsError(err, key)
	}
	info, hdr, err := l.statFile(f, key)
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	return &object{SectionReader: io.NewSectionReader(f, hdr, info.Size), f: f, off: hdr}, info, nil
}

func (l *Local) statFile(f *os.File, key string) (ObjectInfo, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, 0, l.fsError(err, key)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, 0, NotFound(key)
	}
	ct, etag, hdr, err := readHeader(f)
	if err != nil {
		return ObjectInfo{}, 0, errs.Internalf(err, "read object %s", key)
	}
	return ObjectInfo{Key: key, Size: fi.Size() - hdr, ContentType: ct, ETag: etag, LastModified: fi.ModTime()}, hdr, nil
}

// Stat describes an object.
func (l *Local) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	if err := checkBK(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	f, info, err := l.open(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	f.Close()
	return info, nil
}

// List yields the objects under prefix in key order. It reads the whole
// matching part of the tree before yielding the first one.
func (l *Local) List(ctx context.Context, bucket, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := CheckBucket(bucket); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		if err := CheckPrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		base := "objects/" + bucket
		start := base
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start = base + "/" + prefix[:i]
		}
		var infos []ObjectInfo
		fsys := l.root.FS()
		err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				rel := strings.TrimPrefix(p+"/", base+"/")
				if p != start && !strings.HasPrefix(rel, prefix) && !strings.HasPrefix(prefix, rel) {
					return fs.SkipDir
				}
				return nil
			}
			key := strings.TrimPrefix(p, base+"/")
			if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
				return nil
			}
			f, err := l.root.Open(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // deleted meanwhile
				}
				return err
			}
			info, _, err := l.statFile(f, key)
			f.Close()
			if err != nil {
				return err
			}
			infos = append(infos, info)
			return nil
		})
		if err != nil {
			yield(ObjectInfo{}, l.fsError(err, prefix))
			return
		}
		slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
		for _, in := range infos {
			if !yield(in, nil) {
				return
			}
		}
	}
}

// Delete removes an object and the folders it leaves empty.
func (l *Local) Delete(ctx context.Context, bucket, key string) error {
	if err := checkBK(bucket, key); err != nil {
		return err
	}
	p := objectPath(bucket, key)
	if fi, err := l.root.Lstat(p); err == nil && fi.IsDir() {
		return nil // a "folder": no object of that name
	}
	if err := l.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.fsError(err, key)
	}
	stop := "objects/" + bucket
	for d := path.Dir(p); d != stop && strings.HasPrefix(d, stop+"/"); d = path.Dir(d) {
		if l.root.Remove(d) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// fsError maps a filesystem error.
func (l *Local) fsError(err error, key string) error {
	var e *errs.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return NotFound(key)
	case errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.ELOOP):
		// A symlink that leads out of the store: not an object of it.
		return NotFound(key)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return errs.Wrap(errs.Unavailable, err, "storage_full", "the storage disk is full")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}
	return errs.Internalf(err, "local storage")
}

// ---- presigned URLs ----

// Query parameters of a Local presigned URL.
const (
	qExpires   = "X-Mosaic-Expires"
	qType      = "X-Mosaic-Content-Type"
	qSize      = "X-Mosaic-Size"
	qMax       = "X-Mosaic-Max-Size"
	qSignature = "X-Mosaic-Signature"
)

// sign returns the hex HMAC-SHA256, under the store's secret, of a URL's
// fields.
func (l *Local) sign(method, bucket, key string, expires int64, ct string, size, max int64) string {
	return string(l.appendSignature(nil, method, bucket, key, expires, ct, size, max))
}

// appendSignature appends sign's signature to b: the HMAC-SHA256 of the
// message "mosaic-presign-v1\n" then method, bucket, key, expires, ct, size
// and max, one per line.
func (l *Local) appendSignature(b []byte, method, bucket, key string, expires int64, ct string, size, max int64) []byte {
	var mb [384]byte
	m := append(mb[:0], "mosaic-presign-v1\n"...)
	m = append(m, method...)
	m = append(m, '\n')
	m = append(m, bucket...)
	m = append(m, '\n')
	m = append(m, key...)
	m = append(m, '\n')
	m = strconv.AppendInt(m, expires, 10)
	m = append(m, '\n')
	m = append(m, ct...)
	m = append(m, '\n')
	m = strconv.AppendInt(m, size, 10)
	m = append(m, '\n')
	m = strconv.AppendInt(m, max, 10)
	sum := l.key.Sum(m)
	return hex.AppendEncode(b, sum[:])
}

func (l *Local) presign(method, bucket, key string, expires time.Duration, ct string, size, max int64) (*url.URL, error) {
	if l.baseURL == nil {
		return nil, errs.New(errs.Unavailable, "presign_not_configured", "presigned URLs are not configured (LocalConfig.BaseURL)")
	}
	if err := checkBK(bucket, key); err != nil {
		return nil, err
	}
	if err := checkExpires(expires); err != nil {
		return nil, err
	}
	exp := l.cfg.Now().Add(expires).Unix()
	// The query as url.Values.Encode writes it: names sorted, values
	// query-escaped.
	var qb [256]byte
	q := qb[:0]
	if method == http.MethodPut {
		q = append(q, qType+"="...)
		q = appendQueryEscaped(q, ct)
		q = append(q, '&')
	}
	q = append(q, qExpires+"="...)
	q = strconv.AppendInt(q, exp, 10)
	if method == http.MethodPut && size <= 0 && max > 0 {
		q = append(q, "&"+qMax+"="...)
		q = strconv.AppendInt(q, max, 10)
	}
	q = append(q, "&"+qSignature+"="...)
	q = l.appendSignature(q, method, bucket, key, exp, ct, size, max)
	if method == http.MethodPut && size > 0 {
		q = append(q, "&"+qSize+"="...)
		q = strconv.AppendInt(q, size, 10)
	}
	u := *l.baseURL
	u.RawQuery = string(q)
	u.Path, u.RawPath = u.Path+"/"+bucket+"/"+key, ""
	if !plainPath(bucket) || !plainPath(key) {
		segs := strings.Split(key, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		u.RawPath = l.baseURL.Path + "/" + bucket + "/" + strings.Join(segs, "/")
	}
	return &u, nil
}

// plainPath reports whether s has only unreserved characters and "/": a
// path that is its own escaped form.
func plainPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			return false
		}
	}
	return true
}

// appendQueryEscaped appends s as url.QueryEscape writes it.
func appendQueryEscaped(b []byte, s string) []byte {
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hexd[c>>4], hexd[c&15])
		}
	}
	return b
}

// PresignPut returns a URL for one PUT, bound to o.ContentType and o.Size
// (or capped at o.MaxSize).
func (l *Local) PresignPut(ctx context.Context, bucket, key string, o PutOptions) (*url.URL, error) {
	if o.ContentType == "" {
		o.ContentType = DefaultContentType
	}
	if err := CheckContentType(o.ContentType); err != nil {
		return nil, err
	}
	if o.Size < 0 || o.MaxSize < 0 {
		return nil, errs.New(errs.Invalid, "invalid_size", "a size cannot be negative")
	}
	if o.Size > 0 {
		o.MaxSize = 0
	}
	return l.presign(http.MethodPut, bucket, key, o.Expires, o.ContentType, o.Size, o.MaxSize)
}

// PresignGet returns a URL that reads an object with GET or HEAD.
func (l *Local) PresignGet(ctx context.Context, bucket, key string, expires time.Duration) (*url.URL, error) {
	return l.presign(http.MethodGet, bucket, key, expires, "", 0, 0)
}

// ServeHTTP serves the store's presigned URLs; mount it at BaseURL's path
// with http.StripPrefix, so that it sees /<bucket>/<key>.
func (l *Local) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := l.serve(w, r); err != nil {
		writeError(w, err)
	}
}

func (l *Local) serve(w http.ResponseWriter, r *http.Request) error {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || CheckBucket(bucket) != nil || CheckKey(key) != nil {
		return errs.New(errs.NotFound, "not_found", "no such object URL")
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead:
		method = http.MethodGet
	case http.MethodPut:
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		writeJSON(w, http.StatusMethodNotAllowed, "method_not_allowed", "a presigned URL is for GET, HEAD or PUT")
		return nil
	}
	q := r.URL.Query()
	denied := func(why string) error { return errs.New(errs.Forbidden, "signature_invalid", "%s", why) }
	exp, err := strconv.ParseInt(q.Get(qExpires), 10, 64)
	if err != nil {
		return denied("the URL is not a presigned URL of this server")
	}
	var size, max int64
	if s := q.Get(qSize); s != "" {
		if size, err = strconv.ParseInt(s, 10, 64); err != nil || size <= 0 {
			return denied("the URL's signature does not match")
		}
	}
	if s := q.Get(qMax); s != "" {
		if max, err = strconv.ParseInt(s, 10, 64); err != nil || max <= 0 {
			return denied("the URL's signature does not match")
		}
	}
	ct := q.Get(qType)
	want := l.sign(method, bucket, key, exp, ct, size, max)
	if !hmac.Equal([]byte(want), []byte(q.Get(qSignature))) {
		return denied("the URL's signature does not match: it was changed, or is for another method")
	}
	if l.cfg.Now().Unix() > exp {
		return denied("the URL has expired")
	}
	if method == http.MethodGet {
		rc, info, err := l.Get(r.Context(), bucket, key)
		if err != nil {
			return err
		}
		defer rc.Close()
		// Not a site: whatever the content, never let it run in our origin.
		w.Header().Set("Content-Security-Policy", "sandbox")
		ServeObject(w, r, rc, info, ServeOptions{})
		return nil
	}
	if got := r.Header.Get("Content-Type"); got != ct {
		return denied(fmt.Sprintf("the upload must send Content-Type: %s (the URL was signed for it), not %q", ct, got))
	}
	limit := l.cfg.MaxObjectBytes
	switch {
	case size > 0:
		if r.ContentLength != size {
			return denied(fmt.Sprintf("the upload must have exactly %d bytes (the URL was signed for that size)", size))
		}
	case max > 0:
		if r.ContentLength > max {
			return errs.New(errs.TooLarge, "object_too_large", "the file is larger than the %d bytes this URL allows", max)
		}
		limit = min(limit, max)
	}
	if r.ContentLength > limit {
		return errs.New(errs.TooLarge, "object_too_large", "the file is larger than %d bytes", limit)
	}
	// A large upload outlasts a server's ReadTimeout (mosaic serve: 2
	// minutes): a signed upload gets a minute plus 1 s per 64 KiB it may
	// carry (the declared length, else the cap), a slow client included.
	n := r.ContentLength
	if n < 0 {
		n = limit
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadGrace(n)))
	body := http.MaxBytesReader(w, r.Body, limit)
	info, err := l.put(r.Context(), bucket, key, body, r.ContentLength, ct)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

// uploadGrace is how long the server waits for the body of a signed upload
// of n bytes: a minute, plus a second per 64 KiB (a client at 64 KiB/s
// still makes it). Presigned PUTs extend the connection's read deadline
// by it, past the server's ReadTimeout (gitpush does the same for pushes).
func uploadGrace(n int64) time.Duration {
	return time.Minute + time.Duration(max(n, 0)/(64<<10))*time.Second
}

// writeError answers the platform's JSON error shape.
func writeError(w http.ResponseWriter, err error) {
	e := errs.As(err)
	detail := e.Detail
	if e.Kind == errs.Internal || detail == "" {
		detail = http.StatusText(e.Kind.Status())
	}
	writeJSON(w, e.Kind.Status(), e.ErrorCode(), detail)
}

func writeJSON(w http.ResponseWriter, status int, code, detail string) {
	b, _ := json.Marshal(map[string]string{"detail": detail, "error": code})
	h := w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "Content-Encoding", "Content-Range", "Content-Security-Policy"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
