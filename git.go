package mosaic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// newGit starts the local git host when Config.GitDir is set. Clients
// authenticate with HTTP basic auth whose password is an API key of the
// account that owns the project (the user name is ignored).
func (p *Platform) newGit() error {
	if p.cfg.GitDir == "" {
		return nil
	}
	g, err := gitpush.New(gitpush.Config{Dir: p.cfg.GitDir, Authorize: p.authorizeGit, Logger: p.log})
	if err != nil {
		return err
	}
	p.git = g
	return nil
}

// Failed git logins allowed per minute, per client address and per
// project, before git answers 429 for the rest of the minute (right
// credentials included, so a guesser learns nothing while locked out).
const (
	gitAuthFailuresPerIP      = 20
	gitAuthFailuresPerProject = 100
)

func (p *Platform) authorizeGit(ctx context.Context, project, _, password string) error {
	keys := []struct {
		key   string
		limit int64
	}{
		{"gitauth:ip:" + gitpush.ClientAddr(ctx), gitAuthFailuresPerIP},
		{"gitauth:project:" + project, gitAuthFailuresPerProject},
	}
	for _, k := range keys {
		// n = 0 and limit-1: refused once limit failures were counted.
		d, err := p.cfg.Limiter.Allow(ctx, k.key, 0, k.limit-1, time.Minute)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "limiter_unavailable", "the rate limiter is unavailable")
		}
		if !d.Allowed {
			return &errs.Error{Kind: errs.RateLimited, Code: "too_many_failed_logins", RetryAfter: d.RetryAfter,
				Detail: fmt.Sprintf("too many failed git logins; try again in %s", d.RetryAfter.Round(time.Second))}
		}
	}
	pr, err := p.Authenticate(ctx, password)
	if err == nil {
		_, err = p.tenant(ctx, pr.Account.ID, project)
	}
	if errs.KindOf(err) == errs.Unauthorized || errs.KindOf(err) == errs.NotFound {
		for _, k := range keys {
			_, _ = p.cfg.Limiter.Allow(ctx, k.key, 1, k.limit, time.Minute)
		}
	}
	return err
}

func (p *Platform) gitOrUnavailable() (*gitpush.Local, error) {
	if p.git == nil {
		return nil, errs.New(errs.Unavailable, "git_not_configured", "git hosting is not configured on this platform (Config.GitDir)")
	}
	return p.git, nil
}

// GitHandler serves the projects' repositories to git clients over smart
// HTTP; mount it at /git/ with http.StripPrefix("/git", ...). Without
// Config.GitDir it answers 503.
func (p *Platform) GitHandler() http.Handler {
	if p.git == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "git hosting is not configured on this platform", http.StatusServiceUnavailable)
		})
	}
	return p.git
}

// OnPush subscribes fn to push events of every project, from git clients
// and from PutFile. It is a no-op without git hosting.
func (p *Platform) OnPush(fn func(context.Context, gitpush.PushEvent)) {
	if p.git != nil {
		p.git.OnPush(fn)
	}
}

// PutFile commits one file to one of owner's projects' repository.
func (p *Platform) PutFile(ctx context.Context, owner uuid.UUID, slug string, f gitpush.File) (*gitpush.Commit, error) {
	g, err := p.gitOrUnavailable()
	if err != nil {
		return nil, err
	}
	if _, err := p.tenant(ctx, owner, slug); err != nil {
		return nil, err
	}
	c, err := g.PutFile(ctx, slug, f)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Settings are a project's deployment settings (GET/PATCH /{slug}/settings).
type Settings struct {
	// AutoDeploy: a push to the default branch starts a deployment.
	AutoDeploy bool `json:"auto_deploy"`
	// WebhookID identifies the project's push subscription once the first
	// deployment registered it (the spec's gitea_webhook_id); nil before.
	WebhookID *int64 `json:"gitea_webhook_id"`
}

// ProjectSettings returns one of owner's projects' settings.
func (p *Platform) ProjectSettings(ctx context.Context, owner uuid.UUID, slug string) (*Settings, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	return p.loadSettings(ctx, t.pr.ID)
}

func (p *Platform) loadSettings(ctx context.Context, id uuid.UUID) (*Settings, error) {
	var raw []byte
	err := p.db.QueryRow(ctx, `SELECT value FROM mosaic.settings WHERE project_id = $1 AND key = 'deploy'`, id).Scan(&raw)
	s := &Settings{}
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return nil, dbError(err, "load settings")
	}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, errs.Internalf(err, "decode settings of project %s", id)
	}
	return s, nil
}

// UpdateSettings changes one of owner's projects' settings; a nil field is left as it is.
func (p *Platform) UpdateSettings(ctx context.Context, owner uuid.UUID, slug string, autoDeploy *bool) (*Settings, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	s, err := p.loadSettings(ctx, t.pr.ID)
	if err != nil {
		return nil, err
	}
	if autoDeploy != nil {
		s.AutoDeploy = *autoDeploy
	}
	raw, _ := json.Marshal(s)
	if _, err := p.db.Exec(ctx, `INSERT INTO mosaic.settings (project_id, key, value) VALUES ($1, 'deploy', $2)
		ON CONFLICT (project_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, t.pr.ID, raw); err != nil {
		return nil, dbError(err, "save settings")
	}
	return s, nil
}
