package mosaic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// Deployments (spec section 6). Config.Runtime runs the apps; the
// deployer.Manager owns the lifecycle and the routing table; the history
// lives in mosaic.deployments. Without a runtime every deploy route answers
// 503 and ServeApp reports false (sites serve static files only): running
// tenants' code on a host is never a default a library chooses for its
// embedder (cmd/mosaic chooses the process runtime unless told otherwise).
//
// Auto-deploy: a git client's push to a project's default branch (main)
// deploys it when the project's settings have auto_deploy on. A file push
// (POST /{slug}/git/files) deploys only when it says "deploy": true, whatever
// auto_deploy says, so that pushing several files one by one does not start
// a deployment per file. The first deployment of a project turns auto_deploy
// on and records the push subscription (the spec's gitea_webhook_id), as the
// spec's "after the first deploy, every push deploys" says.

// newDeployer builds the deployment manager when Config.Runtime is set,
// after the migrations: it reads the platform's id, which labels every
// instance; rehydrateDeployer then adopts the running ones.
func (p *Platform) newDeployer(ctx context.Context) error {
	if p.cfg.Runtime == nil {
		return nil
	}
	if p.git == nil {
		return errs.New(errs.Invalid, "config", "mosaic: Config.Runtime needs git hosting (Config.GitDir): deployments build the project's repository")
	}
	var id uuid.UUID
	if err := p.db.QueryRow(ctx, `SELECT id FROM mosaic.platform`).Scan(&id); err != nil {
		return dbError(err, "read the platform id")
	}
	m, err := deployer.New(deployer.Config{
		Instance:      id.String(),
		Runtime:       p.cfg.Runtime,
		Store:         deployStore{p},
		Source:        p.git,
		Images:        p.cfg.DeployImages,
		HealthTimeout: p.cfg.DeployHealthTimeout,
		Logger:        p.log,
		Now:           p.cfg.Now,
	})
	if err != nil {
		return err
	}
	p.deploy = m
	p.git.OnPush(p.autoDeploy)
	return nil
}

// rehydrateDeployer rebuilds the routing table from the runtime's
// instances (run once by New, after the migrations).
func (p *Platform) rehydrateDeployer(ctx context.Context) error {
	if p.deploy == nil {
		return nil
	}
	return p.deploy.Rehydrate(ctx)
}

// closeDeployer stops the deployments in progress; running apps keep
// running, and the next New adopts them.
func (p *Platform) closeDeployer() {
	if p.deploy != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.deploy.Close(ctx)
	}
}

func (p *Platform) deployerOrUnavailable() (*deployer.Manager, error) {
	if p.deploy == nil {
		return nil, errs.New(errs.Unavailable, "deploy_not_configured", "deployments are not configured on this platform (Config.Runtime)")
	}
	return p.deploy, nil
}

// DeployRequest is the body of POST /{slug}/deploy.
type DeployRequest struct {
	// RepoURL must be the project's own repository (its git_repo_url), or
	// empty: the platform never fetches other URLs.
	RepoURL string `json:"repo_url"`
	// Branch to deploy (default "main").
	Branch string `json:"branch"`
}

// DeployStarted is the answer to a deploy request (and the "deploy" block of
// a file push with "deploy": true).
type DeployStarted struct {
	Status       deployer.Status `json:"status"`
	DeploymentID string          `json:"deployment_id"`
	URL          string          `json:"url"`
}

// DeployStatus is a project's deployment state, with its site's URL.
type DeployStatus struct {
	deployer.AppStatus
	URL string `json:"url"`
}

// Deploy starts a deployment of one of owner's projects from its own
// repository. It returns at once with the pending deployment; poll
// DeployStatus.
func (p *Platform) Deploy(ctx context.Context, owner uuid.UUID, slug string, in DeployRequest) (*DeployStarted, error) {
	m, err := p.deployerOrUnavailable()
	if err != nil {
		return nil, err
	}
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if in.RepoURL != "" && !p.isOwnRepo(slug, in.RepoURL) {
		return nil, errs.New(errs.Invalid, "repo_url_not_allowed",
			"repo_url must be the project's own repository, %s (or leave it out): push your code there first", p.GitRepoURL(slug))
	}
	if in.Branch == "" {
		in.Branch = gitpush.DefaultBranch
	}
	if err := gitpush.CheckBranch(in.Branch); err != nil {
		return nil, err
	}
	return p.startDeploy(ctx, m, t.pr, deployer.Request{Branch: in.Branch, Trigger: deployer.TriggerManual})
}

// isOwnRepo reports whether u names the project's repository: its
// git_repo_url, with or without ".git", a trailing slash or credentials.
func (p *Platform) isOwnRepo(slug, u string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		if i := strings.Index(s, "://"); i >= 0 {
			if at := strings.IndexByte(s[i+3:], '@'); at >= 0 && !strings.Contains(s[i+3:i+3+at], "/") {
				s = s[:i+3] + s[i+3+at+1:]
			}
		}
		s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
		return strings.ToLower(s)
	}
	return norm(u) == norm(p.GitRepoURL(slug))
}

// startDeploy resolves the commit, turns auto-deploy on at the first
// deployment and hands the request to the manager.
func (p *Platform) startDeploy(ctx context.Context, m *deployer.Manager, pr Project, req deployer.Request) (*DeployStarted, error) {
	if req.Commit == "" {
		sha, msg, ok := p.commitInfo(ctx, pr.Slug, req.Branch)
		if !ok {
			return nil, errs.New(errs.Invalid, "nothing_to_deploy", "branch %q of the project's repository has no commit; push your code first", req.Branch)
		}
		req.Commit, req.Message = sha, msg
	} else if req.Message == "" {
		_, req.Message, _ = p.commitInfo(ctx, pr.Slug, req.Commit)
	}
	pl := p.cfg.Plans[pr.Plan]
	req.ProjectID, req.Slug = pr.ID.String(), pr.Slug
	req.MemoryBytes, req.NanoCPUs = pl.ContainerMemoryBytes, int64(pl.ContainerCPU*1e9)
	req.Env = map[string]string{"MOSAIC_PROJECT": pr.Slug, "MOSAIC_SITE_URL": p.SiteURL(pr.Slug)}
	d, err := m.Deploy(ctx, req)
	if err != nil {
		return nil, dbError(err, "record deployment")
	}
	if err := p.registerAutoDeploy(ctx, pr.ID); err != nil {
		p.log.Warn("could not turn auto-deploy on after the first deployment", "slug", pr.Slug, "err", err)
	}
	return &DeployStarted{Status: d.Status, DeploymentID: d.ID, URL: p.SiteURL(pr.Slug)}, nil
}

// subscriptionID is the spec's gitea_webhook_id: pushes reach the deployer
// in-process, through one subscription.
const subscriptionID = 1

// registerAutoDeploy turns auto_deploy on, once: the first time a project
// deploys (when no subscription is recorded yet).
func (p *Platform) registerAutoDeploy(ctx context.Context, id uuid.UUID) error {
	_, err := p.db.Exec(ctx, `INSERT INTO mosaic.settings (project_id, key, value)
		VALUES ($1, 'deploy', jsonb_build_object('auto_deploy', true, 'gitea_webhook_id', $2::int))
		ON CONFLICT (project_id, key) DO UPDATE
			SET value = mosaic.settings.value || jsonb_build_object('auto_deploy', true, 'gitea_webhook_id', $2::int), updated_at = now()
			WHERE coalesce(mosaic.settings.value->>'gitea_webhook_id', '') = ''`, id, subscriptionID)
	return err
}

// commitInfo returns the commit id and message that ref names in the
// project's repository (a bare repository at GitDir/<slug>.git, gitpush's
// layout).
func (p *Platform) commitInfo(ctx context.Context, slug, ref string) (sha, msg string, ok bool) {
	if p.cfg.GitDir == "" || (!strings.HasPrefix(ref, "refs/") && gitpush.CheckBranch(ref) != nil && len(ref) != 40) || strings.HasPrefix(ref, "-") {
		return "", "", false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "--git-dir="+filepath.Join(p.cfg.GitDir, slug+".git"), "log", "-1", "--format=%H%n%B", ref+"^{commit}", "--")
	cmd.Env = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C", "HOME=/nonexistent"}
	out, err := cmd.Output()
	if err != nil {
		return "", "", false
	}
	sha, msg, _ = strings.Cut(string(out), "\n")
	if len(sha) != 40 {
		return "", "", false
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	return sha, msg, true
}

// autoDeploy deploys a project when a git client pushed to its default
// branch and its settings have auto_deploy on.
func (p *Platform) autoDeploy(ctx context.Context, ev gitpush.PushEvent) {
	if ev.Source != gitpush.SourceHTTP || p.deploy == nil {
		return
	}
	for _, u := range ev.Updates {
		if u.Ref != "refs/heads/"+gitpush.DefaultBranch || u.New == gitpush.ZeroID {
			continue
		}
		pr, _, err := p.projectWithCredentials(ctx, uuid.Nil, ev.Project)
		if err != nil || pr.Status != StatusActive {
			return
		}
		s, err := p.loadSettings(ctx, pr.ID)
		if err != nil {
			p.log.Warn("auto-deploy: could not read settings", "slug", ev.Project, "err", err)
			return
		}
		if !s.AutoDeploy {
			p.log.Info("auto-deploy is off; push not deployed", "slug", ev.Project, "commit", u.New)
			return
		}
		if _, err := p.startDeploy(ctx, p.deploy, *pr, deployer.Request{Branch: gitpush.DefaultBranch, Commit: u.New, Trigger: deployer.TriggerGitPush}); err != nil {
			p.log.Warn("auto-deploy failed to start", "slug", ev.Project, "err", err)
		}
		return
	}
}

// PushFile commits one file to one of owner's projects' repository and,
// with deploy, starts a deployment of that commit (trigger file_push). A
// deploy asked for on a platform without deployments is refused before
// anything is committed.
func (p *Platform) PushFile(ctx context.Context, owner uuid.UUID, slug string, f gitpush.File, deploy bool) (*gitpush.Commit, *DeployStarted, error) {
	var m *deployer.Manager
	if deploy {
		var err error
		if m, err = p.deployerOrUnavailable(); err != nil {
			return nil, nil, errs.Wrap(errs.Unavailable, err, "deploy_not_configured",
				"deployments are not configured on this platform; push without \"deploy\" (nothing was committed)")
		}
	}
	c, err := p.PutFile(ctx, owner, slug, f)
	if err != nil || !deploy {
		return c, nil, err
	}
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return c, nil, err
	}
	started, err := p.startDeploy(ctx, m, t.pr, deployer.Request{Branch: c.Branch, Commit: c.SHA, Message: c.Message, Trigger: deployer.TriggerFilePush})
	return c, started, err
}

func (p *Platform) projectDeployer(ctx context.Context, owner uuid.UUID, slug string) (*deployer.Manager, *Project, error) {
	m, err := p.deployerOrUnavailable()
	if err != nil {
		return nil, nil, err
	}
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, nil, err
	}
	return m, &t.pr, nil
}

// DeployStatus reports one of owner's projects' deployment state.
func (p *Platform) DeployStatus(ctx context.Context, owner uuid.UUID, slug string) (*DeployStatus, error) {
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	st, err := m.Status(ctx, pr.ID.String())
	if err != nil {
		return nil, dbError(err, "deployment status")
	}
	return &DeployStatus{AppStatus: st, URL: p.SiteURL(slug)}, nil
}

// MaxDeployHistory is the most rows DeployHistory returns.
const MaxDeployHistory = 100

// DeployHistory lists one of owner's projects' deployments, newest first
// (limit 1–100, default 10).
func (p *Platform) DeployHistory(ctx context.Context, owner uuid.UUID, slug string, limit int) ([]deployer.Deployment, error) {
	if limit == 0 {
		limit = 10
	}
	if limit < 1 || limit > MaxDeployHistory {
		return nil, errs.New(errs.Invalid, "invalid_limit", "limit must be between 1 and %d", MaxDeployHistory)
	}
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	ds, err := m.History(ctx, pr.ID.String(), limit)
	if err != nil {
		return nil, dbError(err, "deployment history")
	}
	if ds == nil {
		ds = []deployer.Deployment{}
	}
	return ds, nil
}

// DeployLogs returns the build log of one of owner's projects' latest
// deployment and the output of its live app.
func (p *Platform) DeployLogs(ctx context.Context, owner uuid.UUID, slug string) (*deployer.LogSnapshot, error) {
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	s, err := m.Logs(ctx, pr.ID.String())
	if err != nil {
		return nil, dbError(err, "deployment logs")
	}
	return &s, nil
}

// FollowDeployLogs writes the latest build log and then the live app's
// output to w as they come, until ctx is done or the app stops.
func (p *Platform) FollowDeployLogs(ctx context.Context, owner uuid.UUID, slug string, w io.Writer) error {
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return err
	}
	return m.FollowLogs(ctx, pr.ID.String(), w)
}

// DestroyDeployment removes one of owner's projects' app: its instance,
// its build and its route. The history stays.
func (p *Platform) DestroyDeployment(ctx context.Context, owner uuid.UUID, slug string) error {
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return err
	}
	return m.Destroy(ctx, pr.ID.String())
}

// StopApp stops one of owner's projects' app; its site answers 503 until StartApp.
func (p *Platform) StopApp(ctx context.Context, owner uuid.UUID, slug string) (*DeployStatus, error) {
	return p.appOp(ctx, owner, slug, (*deployer.Manager).Stop)
}

// StartApp starts one of owner's projects' stopped app and waits until it answers.
func (p *Platform) StartApp(ctx context.Context, owner uuid.UUID, slug string) (*DeployStatus, error) {
	return p.appOp(ctx, owner, slug, (*deployer.Manager).Start)
}

// RestartApp restarts one of owner's projects' app and waits until it answers.
func (p *Platform) RestartApp(ctx context.Context, owner uuid.UUID, slug string) (*DeployStatus, error) {
	return p.appOp(ctx, owner, slug, (*deployer.Manager).Restart)
}

func (p *Platform) appOp(ctx context.Context, owner uuid.UUID, slug string, op func(*deployer.Manager, context.Context, string) error) (*DeployStatus, error) {
	m, pr, err := p.projectDeployer(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := op(m, ctx, pr.ID.String()); err != nil {
		return nil, err
	}
	return p.DeployStatus(ctx, owner, slug)
}

// ServeApp serves a request for the site {slug}.{domain} from the
// project's running app (a reverse proxy: websockets and streamed answers
// pass through) and reports true; while the app is stopped or not running
// it answers 503 with a short page (also true). It reports false, writing
// nothing, when the project has no live deployment (or the platform has no
// runtime): the caller then serves the project's static files. It does no
// I/O of its own besides the proxying and needs no API key: sites are public.
func (p *Platform) ServeApp(w http.ResponseWriter, r *http.Request, slug string) bool {
	if p.deploy == nil {
		return false
	}
	return p.deploy.ServeApp(w, r, slug)
}

// destroyDeployment removes a deleted project's app, if it has one.
func (p *Platform) destroyDeployment(ctx context.Context, id uuid.UUID) {
	if p.deploy == nil {
		return
	}
	if err := p.deploy.Destroy(ctx, id.String()); err != nil && !errors.Is(err, errs.ErrNotFound) {
		p.log.Warn("could not destroy the app of a deleted project", "project", id, "err", err)
	}
}

// deployStore keeps the deployment history in mosaic.deployments.
type deployStore struct{ p *Platform }

func (s deployStore) SaveDeployment(ctx context.Context, d deployer.Deployment) error {
	id, err := uuid.Parse(d.ID)
	if err != nil {
		return errs.Internalf(err, "deployment id %q", d.ID)
	}
	// prev is the row's status before this save (NULL for a new row): the
	// CTE reads the snapshot from before the upsert.
	var prev *string
	err = s.p.db.QueryRow(ctx, `WITH prev AS (SELECT status FROM mosaic.deployments WHERE id = $1)
		INSERT INTO mosaic.deployments (id, project_id, trigger, branch, commit_sha, commit_message,
			stack, status, error, build_log, created_at, started_at, finished_at, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET commit_sha = EXCLUDED.commit_sha, commit_message = EXCLUDED.commit_message,
			stack = EXCLUDED.stack, status = EXCLUDED.status, error = EXCLUDED.error,
			build_log = CASE WHEN EXCLUDED.build_log = '' THEN mosaic.deployments.build_log ELSE EXCLUDED.build_log END,
			started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms
		RETURNING (SELECT status FROM prev)`,
		id, d.ProjectID, string(d.Trigger), d.Branch, d.CommitSHA, d.CommitMessage, string(d.Stack), string(d.Status), d.Error,
		strings.ToValidUTF8(d.BuildLog, "\uFFFD"), d.CreatedAt, d.StartedAt, d.FinishedAt, d.DurationMS).Scan(&prev)
	if isForeignKeyViolation(err) {
		return errs.New(errs.NotFound, "project_not_found", "the project was deleted")
	}
	// A "deploy" event marks a deployment's end: the save that takes it
	// from pending or building to running or failed. Stopping, starting
	// and restarting the app later save it again, without an event.
	ended := d.Status == deployer.StatusRunning || d.Status == deployer.StatusFailed
	unfinished := prev == nil || *prev == string(deployer.StatusPending) || *prev == string(deployer.StatusBuilding)
	if err == nil && ended && unfinished {
		s.p.deployEvent(ctx, d)
	}
	return err
}

// DeployEventData is the data of a "deploy" webhook event, sent when a
// deployment ends: running (it now serves the site) or failed.
type DeployEventData struct {
	DeploymentID  string           `json:"deployment_id"`
	Status        deployer.Status  `json:"status"`
	Trigger       deployer.Trigger `json:"trigger"`
	Branch        string           `json:"branch"`
	CommitSHA     string           `json:"commit_sha"`
	CommitMessage string           `json:"commit_message"`
	Stack         deployer.Stack   `json:"stack,omitempty"`
	Error         string           `json:"error,omitempty"`
	DurationMS    int64            `json:"duration_ms"`
	URL           string           `json:"url"`
}

// deployEvent sends a finished deployment to the project's webhooks that
// want "deploy" events. Delivery is in the background; a failure to queue
// it is logged, never the deployment's failure.
func (p *Platform) deployEvent(ctx context.Context, d deployer.Deployment) {
	if p.hooks == nil {
		return
	}
	var slug string
	if err := p.db.QueryRow(ctx, `SELECT slug FROM mosaic.projects WHERE id = $1`, d.ProjectID).Scan(&slug); err != nil {
		p.log.Warn("deploy webhook: project lookup failed", "project_id", d.ProjectID, "err", err)
		return
	}
	data := DeployEventData{DeploymentID: d.ID, Status: d.Status, Trigger: d.Trigger, Branch: d.Branch,
		CommitSHA: d.CommitSHA, CommitMessage: d.CommitMessage, Stack: d.Stack, Error: d.Error,
		DurationMS: d.DurationMS, URL: p.SiteURL(slug)}
	if err := p.hooks.Send(ctx, slug, "deploy", data); err != nil {
		p.log.Warn("deploy webhook: could not queue the event", "slug", slug, "err", err)
	}
}

const deployCols = `id, project_id, trigger, branch, commit_sha, commit_message, stack, status, error, created_at, started_at, finished_at, duration_ms`

func (s deployStore) Deployments(ctx context.Context, projectID string, limit int) ([]deployer.Deployment, error) {
	rows, err := s.p.db.Query(ctx, `SELECT `+deployCols+` FROM mosaic.deployments WHERE project_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, projectID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (deployer.Deployment, error) {
		var (
			d                    deployer.Deployment
			id, pid              uuid.UUID
			trigger, stack, stat string
		)
		err := r.Scan(&id, &pid, &trigger, &d.Branch, &d.CommitSHA, &d.CommitMessage, &stack, &stat, &d.Error,
			&d.CreatedAt, &d.StartedAt, &d.FinishedAt, &d.DurationMS)
		d.ID, d.ProjectID, d.Trigger, d.Stack, d.Status = id.String(), pid.String(), deployer.Trigger(trigger), deployer.Stack(stack), deployer.Status(stat)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	})
}

func (s deployStore) BuildLog(ctx context.Context, projectID, id string) (string, error) {
	var log string
	err := s.p.db.QueryRow(ctx, `SELECT build_log FROM mosaic.deployments WHERE id = $1 AND project_id = $2`, id, projectID).Scan(&log)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errs.New(errs.NotFound, "deployment_not_found", "no such deployment")
	}
	return log, err
}
