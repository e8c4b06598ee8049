package gitpush

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// postReceive is the hook installed in every repository. It appends git's
// "old new ref" lines to the file the HTTP handler names for that one
// receive-pack run; outside the handler (no variable) it does nothing.
const postReceive = `#!/bin/sh
# Installed by Mosaic (gitpush). Reports updated refs to the server process.
if [ -n "$MOSAIC_PUSH_REPORT" ]; then
	cat >> "$MOSAIC_PUSH_REPORT"
fi
exit 0
`

// repoConfig is appended to a new repository's config.
const repoConfig = `[receive]
	fsckObjects = true
[core]
	logAllRefUpdates = true
`

// putFileAttempts bounds the compare-and-swap retries of PutFile.
const putFileAttempts = 8

func (l *Local) repoDir(project string) string { return filepath.Join(l.dir, project+".git") }

// exists reports whether the project's repository exists.
func (l *Local) exists(project string) bool {
	st, err := os.Stat(filepath.Join(l.repoDir(project), "HEAD"))
	return err == nil && st.Mode().IsRegular()
}

// vanished turns the internal error of an operation whose repository was
// deleted while it ran (Delete renames it away at any moment) into the
// NotFound that the same call gets a moment later.
func (l *Local) vanished(project string, err *error) {
	if *err != nil && errs.As(*err).Kind == errs.Internal && !l.exists(project) {
		*err = errs.Wrap(errs.NotFound, *err, "repo_not_found", "project %s has no repository (it was deleted)", project)
	}
}

// Create makes the project's bare repository, with HEAD on refs/heads/main,
// receive.fsckObjects on, and the post-receive hook that reports pushes.
// Create is idempotent: for an existing repository it only reinstalls the
// hook, so a retried project creation succeeds. The repository is built in a
// scratch directory and renamed into place, so no client sees it half made.
func (l *Local) Create(ctx context.Context, project string) error {
	if err := checkProject(project); err != nil {
		return err
	}
	dir := l.repoDir(project)
	if l.exists(project) {
		return writeHook(dir)
	}
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return errs.Internalf(err, "gitpush: create %s", l.tmp)
	}
	tmp, err := os.MkdirTemp(l.tmp, "init-"+project+"-")
	if err != nil {
		return errs.Internalf(err, "gitpush: create repository %s", project)
	}
	defer os.RemoveAll(tmp)
	if _, err := l.git(ctx, nil, nil, "init", "--bare", "--quiet", "--initial-branch="+DefaultBranch, tmp); err != nil {
		return errs.Internalf(err, "gitpush: init %s", project)
	}
	if err := appendFile(filepath.Join(tmp, "config"), repoConfig); err != nil {
		return errs.Internalf(err, "gitpush: configure %s", project)
	}
	samples, _ := filepath.Glob(filepath.Join(tmp, "hooks", "*.sample"))
	for _, s := range samples {
		os.Remove(s)
	}
	if err := writeHook(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if l.exists(project) { // created concurrently: same outcome
			return nil
		}
		return errs.Internalf(err, "gitpush: move repository %s into place", project)
	}
	l.log.InfoContext(ctx, "gitpush: repository created", "project", project)
	return nil
}

func writeHook(dir string) error {
	p := filepath.Join(dir, "hooks", "post-receive")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return errs.Internalf(err, "gitpush: hooks directory")
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(postReceive), 0o755); err != nil {
		return errs.Internalf(err, "gitpush: write hook")
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // WriteFile's mode is subject to umask
		return errs.Internalf(err, "gitpush: chmod hook")
	}
	if err := os.Rename(tmp, p); err != nil {
		return errs.Internalf(err, "gitpush: install hook")
	}
	return nil
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Delete removes the project's repository. It is idempotent: deleting a
// missing repository succeeds. The directory is first renamed away, so
// requests that start afterwards see 404 rather than a half-removed repository.
func (l *Local) Delete(ctx context.Context, project string) error {
	if err := checkProject(project); err != nil {
		return err
	}
	dir := l.repoDir(project)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return errs.Internalf(err, "gitpush: create %s", l.tmp)
	}
	trash := filepath.Join(l.tmp, "delete-"+project+"-"+randHex(8))
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return errs.Internalf(err, "gitpush: delete %s", project)
	}
	if err := os.RemoveAll(trash); err != nil {
		return errs.Internalf(err, "gitpush: remove %s", trash)
	}
	l.log.InfoContext(ctx, "gitpush: repository deleted", "project", project)
	return nil
}

// PutFile writes f as one commit on f.Branch, without a work tree: the blob
// is written with hash-object, the parent's tree is read into a temporary
// index (GIT_INDEX_FILE), the file is added, and the commit made with
// commit-tree is published with "update-ref <ref> <new> <old>", a
// compare-and-swap. If a git push moved the branch in between, PutFile
// starts over on the new head, up to a bound, then returns errs.Conflict.
// Calls for one project are serialized in-process, so only pushes make it
// retry.
//
// Errors: errs.Invalid for a bad project, path, branch, message or author;
// errs.TooLarge for content over Config.MaxFileBytes; errs.NotFound for a
// missing repository; errs.Conflict when ExpectedHead does not match, when
// the path collides with a directory (or a file is on the way to it), or
// when the branch keeps moving. On success it emits one PushEvent (source
// "api").
func (l *Local) PutFile(ctx context.Context, project string, f File) (_ Commit, err error) {
	if err := checkProject(project); err != nil {
		return Commit{}, err
	}
	defer l.vanished(project, &err)
	if err := CheckPath(f.Path); err != nil {
		return Commit{}, err
	}
	if int64(len(f.Content)) > l.maxFile {
		return Commit{}, errs.New(errs.TooLarge, "file_too_large", "file is %d bytes; the limit is %d bytes", len(f.Content), l.maxFile)
	}
	if f.Branch == "" {
		f.Branch = DefaultBranch
	}
	if err := CheckBranch(f.Branch); err != nil {
		return Commit{}, err
	}
	if f.Message == "" {
		f.Message = "Update " + f.Path
	}
	if len(f.Message) > 64<<10 || strings.IndexByte(f.Message, 0) >= 0 {
		return Commit{}, errs.New(errs.Invalid, "invalid_message", "commit message must be at most 64 KiB and contain no NUL byte")
	}
	if f.AuthorName == "" {
		f.AuthorName = CommitterName
	}
	if f.AuthorEmail == "" {
		f.AuthorEmail = CommitterEmail
	}
	if err := checkIdent("name", f.AuthorName); err != nil {
		return Commit{}, err
	}
	if err := checkIdent("email", f.AuthorEmail); err != nil {
		return Commit{}, err
	}
	if f.ExpectedHead != "" && (len(f.ExpectedHead) != len(ZeroID) || !isHexID(f.ExpectedHead)) {
		return Commit{}, errs.New(errs.Invalid, "invalid_expected_head", "expected head must be a full 40-character commit id")
	}
	if !l.exists(project) {
		return Commit{}, errs.New(errs.NotFound, "repo_not_found", "project %s has no repository", project)
	}
	dir := l.repoDir(project)
	gitDir := "--git-dir=" + dir
	ref := "refs/heads/" + f.Branch

	blob, err := l.git(ctx, nil, bytes.NewReader(f.Content), gitDir, "hash-object", "-w", "--stdin")
	if err != nil {
		return Commit{}, errs.Internalf(err, "gitpush: hash-object in %s", project)
	}

	unlock, err := l.lock(ctx, project)
	if err != nil {
		return Commit{}, err
	}
	defer unlock()
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return Commit{}, errs.Internalf(err, "gitpush: create %s", l.tmp)
	}
	index := filepath.Join(l.tmp, "index-"+randHex(8))
	defer os.Remove(index)
	indexEnv := []string{"GIT_INDEX_FILE=" + index}

	msg := f.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	for attempt := 1; attempt <= putFileAttempts; attempt++ {
		old, err := l.resolve(ctx, dir, ref)
		if err != nil {
			return Commit{}, errs.Internalf(err, "gitpush: read %s in %s", ref, project)
		}
		if f.ExpectedHead != "" && f.ExpectedHead != orZero(old) {
			return Commit{}, errs.New(errs.Conflict, "head_moved", "branch %s is at %s, not at the expected %s", f.Branch, orZero(old), f.ExpectedHead)
		}
		os.Remove(index)
		if old != "" {
			if _, err := l.git(ctx, indexEnv, nil, gitDir, "read-tree", old); err != nil {
				return Commit{}, errs.Internalf(err, "gitpush: read-tree in %s", project)
			}
		}
		if _, err := l.git(ctx, indexEnv, nil, gitDir, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+f.Path); err != nil {
			var ge *gitError
			if errors.As(err, &ge) && ge.exitCode > 0 {
				return Commit{}, errs.Wrap(errs.Conflict, err, "path_conflict", "path %q collides with an existing file or directory on branch %s", truncate(f.Path, 64), f.Branch)
			}
			return Commit{}, errs.Internalf(err, "gitpush: update-index in %s", project)
		}
		tree, err := l.git(ctx, indexEnv, nil, gitDir, "write-tree")
		if err != nil {
			return Commit{}, errs.Internalf(err, "gitpush: write-tree in %s", project)
		}
		now := time.Now().Truncate(time.Second)
		date := "@" + strconv.FormatInt(now.Unix(), 10) + " +0000"
		identEnv := []string{
			"GIT_AUTHOR_NAME=" + f.AuthorName, "GIT_AUTHOR_EMAIL=" + f.AuthorEmail, "GIT_AUTHOR_DATE=" + date,
			"GIT_COMMITTER_NAME=" + CommitterName, "GIT_COMMITTER_EMAIL=" + CommitterEmail, "GIT_COMMITTER_DATE=" + date,
		}
		args := []string{gitDir, "commit-tree", tree}
		if old != "" {
			args = append(args, "-p", old)
		}
		commit, err := l.git(ctx, identEnv, strings.NewReader(msg), args...)
		if err != nil {
			return Commit{}, errs.Internalf(err, "gitpush: commit-tree in %s", project)
		}
		if l.beforeUpdateRef != nil {
			l.beforeUpdateRef(project, attempt)
		}
		// An empty old value makes update-ref require that the ref does not exist.
		_, err = l.git(ctx, nil, nil, gitDir, "update-ref", "-m", "mosaic: put "+truncate(f.Path, 200), ref, commit, old)
		if err == nil {
			c := Commit{SHA: commit, Parent: old, Branch: f.Branch, Message: f.Message, Time: now.UTC()}
			l.log.InfoContext(ctx, "gitpush: file committed", "project", project, "branch", f.Branch, "path", f.Path, "commit", commit, "attempt", attempt)
			l.events.emit(PushEvent{Project: project, Source: SourceAPI, Updates: []RefUpdate{{Ref: ref, Old: orZero(old), New: commit}}})
			return c, nil
		}
		if ctx.Err() != nil {
			return Commit{}, errs.Wrap(errs.Unavailable, ctx.Err(), "cancelled", "the commit was cancelled")
		}
		cur, rerr := l.resolve(ctx, dir, ref)
		if rerr == nil && cur == old {
			return Commit{}, errs.Internalf(err, "gitpush: update-ref in %s", project)
		}
		l.log.DebugContext(ctx, "gitpush: branch moved during PutFile, retrying", "project", project, "branch", f.Branch, "attempt", attempt)
	}
	return Commit{}, errs.New(errs.Conflict, "branch_moved", "branch %s kept moving while the file was committed; try again", f.Branch)
}

func orZero(id string) string {
	if id == "" {
		return ZeroID
	}
	return id
}

// lock takes the project's in-process PutFile lock, or fails when ctx ends.
func (l *Local) lock(ctx context.Context, project string) (func(), error) {
	l.mu.Lock()
	ch, ok := l.locks[project]
	if !ok {
		ch = make(chan struct{}, 1)
		l.locks[project] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "cancelled", "gave up waiting to commit to project %s", project)
	}
}

// resolve returns the commit a full ref name points to, or "" if it does not
// exist.
func (l *Local) resolve(ctx context.Context, dir, ref string) (string, error) {
	out, err := l.git(ctx, nil, nil, "--git-dir="+dir, "rev-parse", "--verify", "-q", ref+"^{commit}")
	var ge *gitError
	if errors.As(err, &ge) && ge.exitCode == 1 && ge.stderr == "" {
		return "", nil
	}
	return out, err
}

// Archive writes a tar of the tree at ref to w, as git archive makes it. ref
// is a branch or tag name, a full ref ("refs/heads/main") or a commit id; ""
// means HEAD (main). An unknown ref or an empty repository is errs.NotFound.
func (l *Local) Archive(ctx context.Context, project, ref string, w io.Writer) (err error) {
	if err := checkProject(project); err != nil {
		return err
	}
	defer l.vanished(project, &err)
	if ref == "" {
		ref = "HEAD"
	} else if !isHexID(ref) {
		name := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
		if err := CheckBranch(name); err != nil {
			return errs.New(errs.Invalid, "invalid_ref", "ref %q is not a branch, tag or commit id", truncate(ref, 64))
		}
	}
	if !l.exists(project) {
		return errs.New(errs.NotFound, "repo_not_found", "project %s has no repository", project)
	}
	dir := l.repoDir(project)
	commit, err := l.resolve(ctx, dir, ref)
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) && ge.exitCode == 128 { // ambiguous or malformed
			return errs.Wrap(errs.NotFound, err, "ref_not_found", "ref %q does not name one commit in project %s", truncate(ref, 64), project)
		}
		return errs.Internalf(err, "gitpush: resolve %s in %s", ref, project)
	}
	if commit == "" {
		return errs.New(errs.NotFound, "ref_not_found", "ref %q does not exist in project %s (is the repository empty?)", truncate(ref, 64), project)
	}
	cmd := l.command(ctx, nil, "--git-dir="+dir, "archive", "--format=tar", commit)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		return errs.Internalf(fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String())), "gitpush: archive %s of %s", commit, project)
	}
	return nil
}

// command builds a git command with the Local's environment plus env. When
// ctx ends, git gets SIGTERM (so it removes its lock files) and, 10 seconds
// later, SIGKILL.
func (l *Local) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.gitPath, args...)
	cmd.Env = append(append([]string(nil), l.env...), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// gitError is a git command that failed.
type gitError struct {
	args     []string
	exitCode int // -1 if git did not exit normally
	stderr   string
	err      error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// git runs a short git command and returns its trimmed standard output.
func (l *Local) git(ctx context.Context, env []string, stdin io.Reader, args ...string) (string, error) {
	out, err := l.gitRaw(ctx, env, stdin, args...)
	return string(bytes.TrimSpace(out)), err
}

// gitRaw runs a short git command and returns its standard output.
func (l *Local) gitRaw(ctx context.Context, env []string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := l.command(ctx, env, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &limitedBuffer{buf: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		ge := &gitError{args: args, exitCode: -1, stderr: strings.TrimSpace(stderr.String()), err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ge.exitCode = ee.ExitCode()
		}
		return nil, ge
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first n bytes written and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.n - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
