package storage

import (
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// siteTypes are the file types a static site may hold, by lowercase
// extension, with the Content-Type they are served with. See the package
// documentation for why each is there.
var siteTypes = map[string]string{
	// The types of the API reference.
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".ico":  "image/x-icon",
	".webp": "image/webp",
	// Added: the same kinds of content under other names, fonts, media and
	// documents that browsers only display.
	".htm":         "text/html; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".xml":         "application/xml",
	".md":          "text/markdown; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".avif":        "image/avif",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".mp3":         "audio/mpeg",
	".ogg":         "audio/ogg",
	".wav":         "audio/wav",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".pdf":         "application/pdf",
	".wasm":        "application/wasm",
}

// SiteExtensions returns the file extensions a site may hold, sorted.
func SiteExtensions() []string { return slices.Sorted(maps.Keys(siteTypes)) }

// SiteContentType returns the Content-Type a site file is served with, from
// its extension (case-insensitive); ok is false for a type sites do not
// allow.
func SiteContentType(name string) (ct string, ok bool) {
	ct, ok = siteTypes[strings.ToLower(path.Ext(name))]
	return ct, ok
}

// MaxSiteDepth is the deepest folder nesting of a site file.
const MaxSiteDepth = 32

// CheckSitePath checks the path of a static site file: a valid key (see
// CheckKey) whose segments use only letters, digits and "._~@+-", with no
// segment starting with "." except ".well-known", at most MaxSiteDepth
// segments, and an extension from SiteExtensions. Errors are Invalid with
// code "invalid_path" or "unsupported_file_type".
func CheckSitePath(p string) error {
	if err := CheckKey(p); err != nil {
		e := *errs.As(err)
		e.Code = "invalid_path"
		return &e
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxSiteDepth {
		return errs.New(errs.Invalid, "invalid_path", "a site path has at most %d segments", MaxSiteDepth)
	}
	for i, s := range segs {
		if s[0] == '.' && !(s == ".well-known" && i < len(segs)-1) {
			return errs.New(errs.Invalid, "invalid_path", "site path %s: names starting with \".\" are not served (only the .well-known folder is)", quoteKey(p))
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~@+-", c) >= 0) {
				return errs.New(errs.Invalid, "invalid_path", "site path %s has %s: use letters, digits and . _ ~ @ + -", quoteKey(p), fmtQ(string(rune(c))))
			}
		}
	}
	if _, ok := SiteContentType(p); !ok {
		ext := path.Ext(p)
		if ext == "" {
			ext = "(none)"
		}
		return errs.New(errs.Invalid, "unsupported_file_type", "file type %s is not allowed on a site; allowed: %s", fmtQ(ext), strings.Join(SiteExtensions(), " "))
	}
	return nil
}

// ServeOptions tune ServeObject.
type ServeOptions struct {
	// Gzip compresses text-like content when the client accepts gzip and
	// asks for no range. The ETag then gets a "-gzip" suffix, as the bytes
	// differ.
	Gzip bool
	// Status, when not 0, is the status of the answer (for a 404 page);
	// conditional and range headers are then ignored.
	Status int
	// CacheControl, when set, is sent as Cache-Control.
	CacheControl string
}

// ServeObject writes an object as an HTTP answer: Content-Type (from info,
// else application/octet-stream), X-Content-Type-Options: nosniff, ETag and
// Last-Modified, 304 for a matching If-None-Match or If-Modified-Since, 206
// for Range (when rc is an io.ReadSeeker), no body for HEAD, and gzip per o.
func ServeObject(w http.ResponseWriter, r *http.Request, rc io.Reader, info ObjectInfo, o ServeOptions) {
	h := w.Header()
	ct := info.ContentType
	if ct == "" {
		ct = DefaultContentType
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	if o.CacheControl != "" {
		h.Set("Cache-Control", o.CacheControl)
	}
	zip := o.Gzip && compressible(ct)
	if zip {
		h.Add("Vary", "Accept-Encoding")
	}
	etag := ""
	if info.ETag != "" {
		etag = `"` + info.ETag + `"`
	}
	if o.Status != 0 {
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(o.Status)
		if r.Method != http.MethodHead {
			io.Copy(w, rc)
		}
		return
	}
	if zip && info.Size >= 512 && r.Header.Get("Range") == "" && acceptsGzip(r) {
		if etag != "" {
			etag = `"` + info.ETag + `-gzip"`
			h.Set("ETag", etag)
		}
		if answerNotModified(w, r, etag, info.LastModified) {
			return
		}
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		gz := gzPool.Get().(*gzip.Writer)
		gz.Reset(w)
		io.Copy(gz, rc)
		gz.Close()
		gzPool.Put(gz)
		return
	}
	if etag != "" {
		h.Set("ETag", etag)
	}
	if fa, ok := rc.(interface{ fileAt() (*os.File, error) }); ok && plainGet(r) {
		// A whole object from a local file: the same answer ServeContent
		// gives, but copied from the *os.File, so the kernel's sendfile
		// moves the bytes.
		if answerNotModified(w, r, etag, info.LastModified) {
			return
		}
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		f, err := fa.fileAt()
		if err != nil {
			http.Error(w, "500 internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.Copy(w, io.LimitReader(f, info.Size))
		}
		return
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", info.LastModified, sized{rs, info.Size})
		return
	}
	if answerNotModified(w, r, etag, info.LastModified) {
		return
	}
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, rc)
	}
}

// sized is a ReadSeeker that answers Seek(0, io.SeekEnd) from a known
// size, so that ServeContent costs no extra round trip on a remote object.
type sized struct {
	io.ReadSeeker
	size int64
}

func (s sized) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekEnd && off == 0 && s.size >= 0 {
		if _, err := s.ReadSeeker.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		return s.size, nil
	}
	return s.ReadSeeker.Seek(off, whence)
}

var gzPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// plainGet reports a GET or HEAD with no Range and no precondition other
// than If-None-Match / If-Modified-Since.
func plainGet(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, k := range []string{"Range", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if r.Header.Get(k) != "" {
			return false
		}
	}
	return true
}

func compressible(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch mt = strings.TrimSpace(mt); {
	case strings.HasPrefix(mt, "text/"):
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml", "application/wasm", "font/ttf", "font/otf", "image/x-icon":
		return true
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// notModified evaluates If-None-Match (weak comparison) or, without it,
// If-Modified-Since, for a GET or HEAD.
// answerNotModified sets Last-Modified (when known) and, when the
// request's validators match, answers 304 and reports true.
func answerNotModified(w http.ResponseWriter, r *http.Request, etag string, mod time.Time) bool {
	h := w.Header()
	if !mod.IsZero() {
		h.Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	}
	if !notModified(r, etag, mod) {
		return false
	}
	delete(h, "Content-Type")
	w.WriteHeader(http.StatusNotModified)
	return true
}

func notModified(r *http.Request, etag string, mod time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !mod.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !mod.Truncate(time.Second).After(t)
	}
	return false
}
