package gitpush

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// Realm is the basic-auth realm the handler announces on 401.
const Realm = "mosaic git"

// ServeHTTP serves git's smart HTTP protocol (v0, v1 and, for fetches, v2)
// on paths relative to the mount point:
//
//	GET  /{project}.git/info/refs?service=git-upload-pack   (clone, fetch)
//	GET  /{project}.git/info/refs?service=git-receive-pack  (push)
//	POST /{project}.git/git-upload-pack
//	POST /{project}.git/git-receive-pack
//
// It runs git upload-pack or receive-pack with --stateless-rpc and streams
// the bodies through (a gzip request body is decoded; a chunked one is fine).
// Every request needs basic-auth credentials that Config.Authorize accepts:
// without them the answer is 401 with WWW-Authenticate, before the project's
// existence is revealed. An unknown project is 404, and so is every other
// path, dumb HTTP included. A push that updates refs emits one PushEvent
// (source "http") once git has finished.
func (l *Local) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	project, rest, ok := splitRepoPath(r.URL.Path)
	if !ok {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	var service string
	switch rest {
	case "info/refs":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		service = r.URL.Query().Get("service")
		if service != "git-upload-pack" && service != "git-receive-pack" {
			httpError(w, http.StatusNotFound, "only the smart HTTP protocol is served")
			return
		}
	case "git-upload-pack", "git-receive-pack":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			httpError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		service = rest
	default:
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	ctx := r.Context()
	if !validProject(project) {
		httpError(w, http.StatusNotFound, "repository not found")
		return
	}
	if !l.authorized(w, r, project) {
		return
	}
	if !l.exists(project) {
		httpError(w, http.StatusNotFound, "repository not found")
		return
	}
	if rest == "info/refs" {
		l.advertise(ctx, w, r, project, service)
		return
	}
	l.rpc(ctx, w, r, project, service)
}

// splitRepoPath splits "/{project}.git/{rest}".
func splitRepoPath(p string) (project, rest string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	i := strings.Index(p, ".git/")
	if i <= 0 {
		return "", "", false
	}
	return p[:i], p[i+len(".git/"):], true
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// authorized checks the request's credentials and answers when they fail.
func (l *Local) authorized(w http.ResponseWriter, r *http.Request, project string) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || l.authorize == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		httpError(w, http.StatusUnauthorized, "authentication required")
		return false
	}
	ctx := context.WithValue(r.Context(), clientAddrKey{}, clientHost(r.RemoteAddr))
	err := l.authorize(ctx, project, user, pass)
	if err == nil {
		return true
	}
	switch k := errs.KindOf(err); k {
	case errs.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		httpError(w, http.StatusUnauthorized, "invalid credentials")
	case errs.NotFound:
		httpError(w, http.StatusNotFound, "repository not found")
	case errs.Internal:
		l.log.ErrorContext(r.Context(), "gitpush: authorize failed", "project", project, "error", err)
		httpError(w, http.StatusInternalServerError, "internal error")
	default:
		// Every other kind (a project still being created is a Conflict,
		// a quota is 402...) answers its own status with its safe detail.
		if e := errs.As(err); e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
		}
		httpError(w, k.Status(), errs.As(err).Detail)
	}
	return false
}

type clientAddrKey struct{}

// ClientAddr returns, inside Config.Authorize, the IP address the git
// client connected from (the host of http.Request.RemoteAddr: behind a
// reverse proxy, the proxy's, unless the server is wrapped in
// httpapi.TrustProxies), so that Authorize can throttle failures per
// client.
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

func clientHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func noCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
}

// gitProtocol returns the client's Git-Protocol header when it is well formed.
func gitProtocol(r *http.Request) string {
	v := r.Header.Get("Git-Protocol")
	if len(v) > 256 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("=:._-", c) >= 0) {
			return ""
		}
	}
	return v
}

func protocolEnv(proto string) []string {
	if proto == "" {
		return nil
	}
	return []string{"GIT_PROTOCOL=" + proto}
}

// advertise answers GET info/refs: the service header (except for protocol
// v2 fetches, as git http-backend does) and the --advertise-refs output.
func (l *Local) advertise(ctx context.Context, w http.ResponseWriter, r *http.Request, project, service string) {
	proto := gitProtocol(r)
	out, err := l.gitRaw(ctx, protocolEnv(proto), nil, strings.TrimPrefix(service, "git-"), "--stateless-rpc", "--advertise-refs", l.repoDir(project))
	if err != nil {
		l.log.ErrorContext(ctx, "gitpush: advertise refs failed", "project", project, "service", service, "error", err)
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-"+service+"-advertisement")
	noCache(h)
	var buf bytes.Buffer
	if !(service == "git-upload-pack" && strings.Contains(proto, "version=2")) {
		writePktLine(&buf, "# service="+service+"\n")
		buf.WriteString("0000")
	}
	buf.Write(out)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func writePktLine(w io.Writer, s string) {
	fmt.Fprintf(w, "%04x%s", len(s)+4, s)
}

// rpc answers POST git-upload-pack / git-receive-pack by running the service
// with --stateless-rpc, streaming the request body to its stdin and its
// stdout to the response.
func (l *Local) rpc(ctx context.Context, w http.ResponseWriter, r *http.Request, project, service string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-"+service+"-request" {
		httpError(w, http.StatusUnsupportedMediaType, "expected Content-Type application/x-"+service+"-request")
		return
	}
	// Not http.MaxBytesReader: exec reads the body on its own goroutine,
	// and MaxBytesReader touches the ResponseWriter when the limit is hit.
	body := &countingReader{r: &limitReader{r: r.Body, n: l.maxPush}}
	var in io.Reader = body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			httpError(w, http.StatusBadRequest, "bad gzip body")
			return
		}
		defer zr.Close()
		in = &countingReader{r: &limitReader{r: zr, n: l.maxPush}}
	default:
		httpError(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+strconv.Quote(enc))
		return
	}
	// Git may answer (progress, v2 sections) while the body is still coming.
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	// A big push outlasts a server's ReadTimeout (mosaic serve: 2 minutes):
	// a minute plus a second per 64 KiB of the largest push, as the local
	// store gives a presigned upload.
	_ = rc.SetReadDeadline(time.Now().Add(time.Minute + time.Duration(l.maxPush/(64<<10))*time.Second))

	env := protocolEnv(gitProtocol(r))
	runCtx := ctx
	var report string
	if service == "git-receive-pack" {
		// Once a push is under way, let git finish it even if the client
		// goes: a dead client shows up as the end of git's stdin.
		runCtx = context.WithoutCancel(ctx)
		if err := os.MkdirAll(l.tmp, 0o700); err != nil {
			l.log.ErrorContext(ctx, "gitpush: scratch directory", "error", err)
			httpError(w, http.StatusInternalServerError, "internal error")
			return
		}
		report = filepath.Join(l.tmp, "push-"+randHex(8))
		defer os.Remove(report)
		env = append(env, "MOSAIC_PUSH_REPORT="+report)
	}
	cmd := l.command(runCtx, env,
		"-c", "receive.maxInputSize="+strconv.FormatInt(l.maxPush, 10),
		strings.TrimPrefix(service, "git-"), "--stateless-rpc", l.repoDir(project))
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, n: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.log.ErrorContext(ctx, "gitpush: stdout pipe", "error", err)
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	// The body is copied to git by our own goroutine (not exec's), so that
	// the handler can make sure nothing reads the body once it returns.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		l.log.ErrorContext(ctx, "gitpush: stdin pipe", "error", err)
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if err := cmd.Start(); err != nil {
		l.log.ErrorContext(ctx, "gitpush: start git", "service", service, "error", err)
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(stdin, in)
		stdin.Close()
	}()
	// bodyDone reports whether the whole request body has been read. A
	// connection whose request body is not is closed after the answer:
	// neither the server's drain of the rest (which in full-duplex mode
	// can race its read of the next request: a panic in net/http, seen on
	// Go 1.26) nor the failed read below that stops it may be followed by
	// another request on the connection, whose context net/http has by
	// then cancelled.
	bodyDone := func() bool {
		return body.eof.Load() || (r.ContentLength >= 0 && body.n.Load() >= r.ContentLength)
	}
	fw := &flushWriter{w: w, rc: rc, start: func() {
		h := w.Header()
		h.Set("Content-Type", "application/x-"+service+"-result")
		noCache(h)
		if !bodyDone() { // git answers before the body has all come: rare
			h.Set("Connection", "close")
		}
		w.WriteHeader(http.StatusOK)
	}}
	_, copyErr := io.Copy(fw, stdout)
	if copyErr != nil {
		io.Copy(io.Discard, stdout) // let git finish writing; its output has nowhere to go
	}
	waitErr := cmd.Wait() // closes stdin: a copy blocked writing to git ends
	select {
	case <-copied:
	default: // blocked reading a body git did not need: unblock the read
		rc.SetReadDeadline(time.Now())
		<-copied
	}
	if !bodyDone() {
		// Part of the body is unread: the server must not drain it (see
		// bodyDone), so its reads fail from now on, and the connection
		// closes after the answer (fw.start said so if the answer began).
		if !fw.started {
			w.Header().Set("Connection", "close")
		}
		rc.SetReadDeadline(time.Now())
	}

	if report != "" {
		l.reportPush(ctx, project, report)
	}
	if waitErr == nil && copyErr == nil {
		return
	}
	tooLarge := errors.Is(body.err, errTooLarge)
	if cr, ok := in.(*countingReader); ok && errors.Is(cr.err, errTooLarge) {
		tooLarge = true
	}
	l.log.WarnContext(ctx, "gitpush: git "+service+" failed", "project", project, "error", waitErr, "copy_error", copyErr,
		"body_error", body.err, "body_bytes", body.n.Load(), "stderr", strings.TrimSpace(stderr.String()))
	if !fw.started {
		if tooLarge {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", l.maxPush))
			return
		}
		if line, ok := clientProtocolError(stderr.String()); ok {
			httpError(w, http.StatusBadRequest, "not a valid git "+service+" request: "+line)
			return
		}
		httpError(w, http.StatusInternalServerError, "git "+service+" failed")
	}
}

// clientProtocolError reports whether git's stderr says that the client's
// request was malformed (not a failure of the server), with the line that
// says so.
func clientProtocolError(stderr string) (string, bool) {
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		l := strings.ToLower(line)
		// What git says of a client's request that is not its protocol;
		// anything else (a broken repository, a full disk) stays a 500.
		for _, s := range []string{"protocol error", "bad line length", "expected flush", "unknown capability",
			"not our ref", "bad pack header", "pack signature mismatch",
			"the remote end hung up unexpectedly"} { // the request body ended early: empty or truncated
			if strings.Contains(l, s) {
				return line, true
			}
		}
	}
	return "", false
}

// reportPush reads the post-receive hook's lines and emits one event.
func (l *Local) reportPush(ctx context.Context, project, report string) {
	data, err := os.ReadFile(report)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) { // no file: no ref was updated
			l.log.ErrorContext(ctx, "gitpush: read push report", "project", project, "error", err)
		}
		return
	}
	ups := parseUpdates(data)
	if len(ups) == 0 {
		return
	}
	l.log.InfoContext(ctx, "gitpush: push received", "project", project, "refs", len(ups))
	l.events.emit(PushEvent{Project: project, Source: SourceHTTP, Updates: ups})
}

// parseUpdates parses post-receive input: "<old> <new> <ref>" lines.
func parseUpdates(data []byte) []RefUpdate {
	var ups []RefUpdate
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || !isHexID(f[0]) || !isHexID(f[1]) {
			continue
		}
		ups = append(ups, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	return ups
}

// flushWriter writes the response header on the first write and flushes
// after every write, so git's progress reaches the client as it comes.
type flushWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	start   func()
	started bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	if !f.started {
		f.started = true
		f.start()
	}
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// countingReader records how much was read and the first error other than
// EOF. n and eof may be read while another goroutine reads; err only once
// it is done.
type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	err error
	eof atomic.Bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF {
		c.eof.Store(true)
	} else if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

var errTooLarge = errors.New("gitpush: decoded request body too large")

// limitReader fails with errTooLarge when r has more than n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, err := io.ReadFull(l.r, one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
