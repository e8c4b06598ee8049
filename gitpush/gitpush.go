package gitpush

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// Repos stores a project's repository. Local implements it with bare
// repositories on disk; a Gitea-backed implementation could satisfy the same
// contract.
type Repos interface {
	// Create makes the project's empty repository (default branch main).
	Create(ctx context.Context, project string) error
	// Delete removes the repository and its history. It is idempotent.
	Delete(ctx context.Context, project string) error
	// PutFile writes one file as one commit on a branch, with a
	// compare-and-swap on the branch.
	PutFile(ctx context.Context, project string, f File) (Commit, error)
	// Archive writes a tar of the tree at ref to w: the deployer's input.
	Archive(ctx context.Context, project, ref string, w io.Writer) error
}

// Server serves the repositories to git clients and reports pushes.
type Server interface {
	http.Handler
	// CloneURL is the URL git clients use for the project, given the public
	// base URL where the handler is mounted.
	CloneURL(baseURL, project string) string
	// OnPush subscribes fn to every ref update (git push or PutFile).
	OnPush(fn func(context.Context, PushEvent))
}

var (
	_ Repos  = (*Local)(nil)
	_ Server = (*Local)(nil)
)

// Defaults for the limits in Config.
const (
	DefaultMaxFileBytes = 10 << 20 // 10 MiB
	DefaultMaxPushBytes = 1 << 30  // 1 GiB
	DefaultBranch       = "main"
)

// The identity that commits PutFile writes (the author is the caller's).
const (
	CommitterName  = "Mosaic"
	CommitterEmail = "noreply@mosaic.invalid"
)

// ZeroID is the object id git uses for "no commit": the Old of a created ref
// and the New of a deleted one.
const ZeroID = "0000000000000000000000000000000000000000"

// Config configures a Local. Dir is required; every other field has a default.
type Config struct {
	// Dir holds the repositories, one bare repository per project at
	// Dir/<project>.git, plus scratch files under Dir/.tmp. It is created on
	// the first Create.
	Dir string
	// Authorize checks the HTTP basic-auth credentials of a git client for
	// a project, for reads and writes alike. Return nil to allow, an errs
	// Unauthorized error for wrong credentials (401), NotFound to hide the
	// project (404) or Forbidden (403). A nil Authorize refuses every HTTP
	// request with 401: the HTTP server is closed unless you open it.
	Authorize func(ctx context.Context, project, username, password string) error
	// Logger receives pushes and failures (default: discard).
	Logger *slog.Logger
	// MaxFileBytes bounds PutFile content (default DefaultMaxFileBytes);
	// larger content is errs.TooLarge.
	MaxFileBytes int64
	// MaxPushBytes bounds the body of one git HTTP request after gzip
	// decoding (default DefaultMaxPushBytes); git receive-pack also gets it
	// as receive.maxInputSize.
	MaxPushBytes int64
	// Git is the git binary (default: "git" found in PATH).
	Git string
}

// Local is the implementation of Repos and Server on bare repositories on the
// local disk, driven by the git binary. Build it with New; its methods are
// safe for concurrent use.
type Local struct {
	dir, tmp  string
	gitPath   string
	env       []string
	authorize func(ctx context.Context, project, username, password string) error
	log       *slog.Logger
	maxFile   int64
	maxPush   int64

	mu    sync.Mutex
	locks map[string]chan struct{} // per-project PutFile lock (a 1-slot semaphore)

	events events

	// beforeUpdateRef, set by tests only, runs before each update-ref of
	// PutFile, to move the branch at the worst moment.
	beforeUpdateRef func(project string, attempt int)
	baseCtx         context.Context
	cancel          context.CancelFunc
}

// New checks cfg and that git exists. It does no other I/O: directories are
// created by Create.
func New(cfg Config) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errs.New(errs.Invalid, "invalid_config", "gitpush: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, errs.Internalf(err, "gitpush: absolute path of %q", cfg.Dir)
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	gitPath, err := exec.LookPath(cfg.Git)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "git_missing", "gitpush: the git binary %q was not found", cfg.Git)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxPushBytes <= 0 {
		cfg.MaxPushBytes = DefaultMaxPushBytes
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Local{
		dir:       dir,
		tmp:       filepath.Join(dir, ".tmp"),
		gitPath:   gitPath,
		authorize: cfg.Authorize,
		log:       cfg.Logger,
		maxFile:   cfg.MaxFileBytes,
		maxPush:   cfg.MaxPushBytes,
		locks:     map[string]chan struct{}{},
		baseCtx:   ctx,
		cancel:    cancel,
	}
	l.events.log = cfg.Logger
	// git runs with a small, fixed environment: no system or user config
	// (a server must not depend on root's ~/.gitconfig), no prompts.
	l.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	if t := os.Getenv("TMPDIR"); t != "" {
		l.env = append(l.env, "TMPDIR="+t)
	}
	return l, nil
}

// Close waits for push subscribers to finish the events already emitted, or
// until ctx is done; then it cancels the context subscribers got. Events
// emitted after Close are dropped.
func (l *Local) Close(ctx context.Context) error {
	err := l.events.close(ctx)
	l.cancel()
	return err
}

// OnPush subscribes fn to push events: exactly one event per git push that
// updated at least one ref, and one per PutFile. Each subscriber gets the
// events in the order they were emitted, one at a time, on its own
// goroutine: a slow subscriber delays only itself and never a push. A panic
// in fn is recovered and logged. The context is cancelled by Close.
func (l *Local) OnPush(fn func(context.Context, PushEvent)) {
	l.events.subscribe(l.baseCtx, fn)
}

// CloneURL returns baseURL + "/" + project + ".git". baseURL is the public
// URL where the handler is mounted: with http.StripPrefix("/git", l) on
// https://mosaic.example, pass "https://mosaic.example/git".
func (l *Local) CloneURL(baseURL, project string) string {
	for len(baseURL) > 0 && baseURL[len(baseURL)-1] == '/' {
		baseURL = baseURL[:len(baseURL)-1]
	}
	return baseURL + "/" + project + ".git"
}

// File is one file to commit with PutFile.
type File struct {
	// Path is the slash-separated path in the tree; see CheckPath.
	Path string
	// Content is the file's bytes (at most Config.MaxFileBytes).
	Content []byte
	// Message is the commit message (default "Update <path>").
	Message string
	// Branch is the branch to commit on (default "main"); it is created if
	// it does not exist.
	Branch string
	// AuthorName and AuthorEmail name the author (default: the committer,
	// CommitterName and CommitterEmail).
	AuthorName, AuthorEmail string
	// ExpectedHead, when set, is the commit the branch must point to (use
	// ZeroID for "the branch must not exist"); otherwise PutFile fails with
	// errs.Conflict. When empty, PutFile commits on whatever the branch
	// points to, retrying if it moves.
	ExpectedHead string
}

// Commit is the commit PutFile made.
type Commit struct {
	SHA     string    `json:"sha"`
	Parent  string    `json:"parent,omitempty"` // "" for the branch's first commit
	Branch  string    `json:"branch"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// RefUpdate is one ref changed by a push, as git's post-receive hook reports
// it. Old is ZeroID for a created ref, New is ZeroID for a deleted one.
type RefUpdate struct {
	Ref string `json:"ref"` // e.g. "refs/heads/main"
	Old string `json:"old"`
	New string `json:"new"`
}

// Sources of a PushEvent.
const (
	SourceHTTP = "http" // a git client over the HTTP handler
	SourceAPI  = "api"  // PutFile
)

// PushEvent reports the refs one push changed.
type PushEvent struct {
	Project string      `json:"project"`
	Source  string      `json:"source"` // SourceHTTP or SourceAPI
	Updates []RefUpdate `json:"updates"`
}
