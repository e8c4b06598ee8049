package mosaic

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

// Project is a tenant: one database now, and the other capabilities as they are configured.
type Project struct {
	ID        uuid.UUID    `json:"id"`
	AccountID uuid.UUID    `json:"account_id"`
	Name      string       `json:"name"`
	Slug      string       `json:"slug"`
	Plan      string       `json:"plan"`
	Status    string       `json:"status"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	Database  DatabaseInfo `json:"database"`
}

// DatabaseInfo locates a project's database (without its password).
type DatabaseInfo struct {
	Server            string   `json:"server"`
	Name              string   `json:"name"`
	User              string   `json:"user"`
	Host              string   `json:"host"`
	Port              int      `json:"port"`
	Extensions        []string `json:"extensions"`
	MissingExtensions []string `json:"missing_extensions"`
}

// Credentials are a project's database credentials.
type Credentials struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// URL returns the postgres:// connection URL.
func (c Credentials) URL() string {
	u := url.URL{
		Scheme: "postgresql",
		User:   url.UserPassword(c.User, c.Password),
		Host:   hostPort(c.Host, c.Port),
		Path:   "/" + c.Database,
	}
	return u.String()
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// CreatedProject is the result of CreateProject: the project and, this once
// as on every Credentials call, its database password.
type CreatedProject struct {
	Project
	Credentials Credentials `json:"credentials"`
}

// NewProject asks for a project.
type NewProject struct {
	// Name is required: 1–100 characters.
	Name string `json:"name"`
	// Slug is optional; one is generated from Name when empty. See ValidateSlug.
	Slug string `json:"slug,omitempty"`
	// Plan is optional; the platform's default plan when empty.
	Plan string `json:"plan,omitempty"`
}

// Project statuses.
const (
	StatusProvisioning = "provisioning"
	StatusActive       = "active"
	StatusDeleting     = "deleting"
)

// ReservedSlugs are words that can never be slugs because they name routes of
// the API or hosts of the platform.
var ReservedSlugs = []string{
	"projects", "tickets", "keys", "whoami", "healthz", "readyz", "metrics", "openapi", "docs", "discover",
	"api", "admin", "www", "git", "s3", "storage", "static", "assets", "mail", "smtp", "dashboard", "status",
	"login", "logout", "signup", "auth", "account", "accounts", "settings", "billing", "support", "help",
	"mosaic", "platform", "system", "root", "internal", "v1", "v2", "project", "sites",
}

var reservedSlug = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range ReservedSlugs {
		m[s] = true
	}
	return m
}()

// IsReservedSlug reports whether s is one of ReservedSlugs.
func IsReservedSlug(s string) bool { return reservedSlug[s] }

// ValidateSlug checks a slug: 3–32 characters of lowercase letters, digits and
// hyphens, starting and ending with a letter or digit, with no "--", and not
// one of ReservedSlugs. The error says which rule failed.
func ValidateSlug(s string) error {
	switch {
	case len(s) < 3:
		return errs.New(errs.Invalid, "invalid_slug", "slug %q is too short: use 3 to 32 characters", s)
	case len(s) > 32:
		return errs.New(errs.Invalid, "invalid_slug", "slug is too long (%d characters): use 3 to 32", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return errs.New(errs.Invalid, "invalid_slug", "slug %q has %q at position %d: use lowercase letters, digits and hyphens", s, string(rune(c)), i+1)
		}
	}
	switch {
	case s[0] == '-' || s[len(s)-1] == '-':
		return errs.New(errs.Invalid, "invalid_slug", "slug %q must start and end with a letter or digit", s)
	case strings.Contains(s, "--"):
		return errs.New(errs.Invalid, "invalid_slug", "slug %q must not contain consecutive hyphens", s)
	case reservedSlug[s]:
		return errs.New(errs.Invalid, "reserved_slug", "slug %q is reserved; choose another", s)
	}
	return nil
}

// DatabaseName is the database and role name of a slug: "tenant_" and the
// slug with hyphens as underscores. Slugs have no underscores, so distinct
// slugs give distinct names.
func DatabaseName(slug string) string {
	return "tenant_" + strings.ReplaceAll(slug, "-", "_")
}

// slugBase turns a project name into the start of a generated slug.
func slugBase(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 27 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 27 {
		s = strings.TrimRight(s[:27], "-")
	}
	if s == "" {
		s = "project"
	}
	return s
}

const slugAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// generateSlug returns name's base and a random 4-character suffix, e.g. "my-app-x4k2".
func generateSlug(name string) string {
	var b [4]byte
	rand.Read(b[:])
	suf := make([]byte, 4)
	for i, c := range b {
		suf[i] = slugAlphabet[int(c)%len(slugAlphabet)]
	}
	return slugBase(name) + "-" + string(suf)
}

// CreateProject provisions a project for an account: a control-plane row,
// then a locked-down database. It is all or nothing: if any step fails, or
// ctx is cancelled, what was made is removed before the error returns. Two
// concurrent creates of one slug give one project and one Conflict.
func (p *Platform) CreateProject(ctx context.Context, owner uuid.UUID, in NewProject) (*CreatedProject, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return nil, errs.New(errs.Invalid, "invalid_name", "a project needs a name")
	}
	if len([]rune(in.Name)) > 100 {
		return nil, errs.New(errs.Invalid, "invalid_name", "a project name has at most 100 characters")
	}
	if in.Plan == "" {
		in.Plan = p.cfg.DefaultPlan
	}
	plan, ok := p.cfg.Plans[in.Plan]
	if !ok {
		return nil, errs.New(errs.Invalid, "invalid_plan", "unknown plan %q", in.Plan)
	}
	if in.Slug != "" {
		if err := ValidateSlug(in.Slug); err != nil {
			return nil, err
		}
		return p.createProject(ctx, owner, in, plan)
	}
	for attempt := 0; ; attempt++ {
		in.Slug = generateSlug(in.Name)
		cp, err := p.createProject(ctx, owner, in, plan)
		if errors.Is(err, &errs.Error{Kind: errs.Conflict, Code: "slug_taken"}) && attempt < 5 {
			continue
		}
		return cp, err
	}
}

func (p *Platform) createProject(ctx context.Context, owner uuid.UUID, in NewProject, plan Plan) (*CreatedProject, error) {
	pr := Project{ID: uuid.New(), AccountID: owner, Name: in.Name, Slug: in.Slug, Plan: plan.Name, Status: StatusProvisioning}
	dbName := DatabaseName(in.Slug)
	// 1. Claim the slug. The unique index makes a concurrent create of the same slug fail here, before anything else exists.
	err := p.db.QueryRow(ctx, `INSERT INTO mosaic.projects (id, account_id, name, slug, plan, status, db_name, db_user)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING created_at, updated_at`,
		pr.ID, owner, pr.Name, pr.Slug, pr.Plan, pr.Status, dbName).Scan(&pr.CreatedAt, &pr.UpdatedAt)
	if isUniqueViolation(err) {
		return nil, errs.New(errs.Conflict, "slug_taken", "slug %q is already taken", in.Slug)
	}
	if isForeignKeyViolation(err) {
		return nil, errs.New(errs.NotFound, "account_not_found", "no such account")
	}
	repoMade := false
	undo := func(dropDB *sqlexec.Credentials) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if repoMade {
			if err := p.git.Delete(cctx, pr.Slug); err != nil {
				p.log.Error("could not delete the repository of a failed project create", "slug", pr.Slug, "err", err)
			}
		}
		if dropDB != nil {
			if err := p.dbs.Drop(cctx, dropDB.Server, dropDB.Database); err != nil {
				p.log.Error("could not drop the database of a failed project create", "slug", pr.Slug, "err", err)
				return // keep the row, so the reaper retries the drop
			}
		}
		if _, err := p.db.Exec(cctx, `DELETE FROM mosaic.projects WHERE id = $1`, pr.ID); err != nil {
			p.log.Error("could not remove the row of a failed project create", "slug", pr.Slug, "err", err)
		}
	}

	if err != nil {
		if ctx.Err() != nil {
			// The INSERT may have committed although the call failed.
			undo(nil)
		}
		return nil, dbError(err, "claim slug")
	}

	// 2. The database. sqlexec removes its own partial work on failure.
	c, err := p.dbs.Create(ctx, dbName, sqlexec.Limits{ConnectionLimit: plan.DBConnections, TempFileLimit: plan.DBTempFileLimit})
	if err != nil {
		undo(nil)
		if errors.Is(err, errs.ErrConflict) {
			return nil, errs.Wrap(errs.Conflict, err, "slug_taken", "slug %q is already taken (its database name is in use)", in.Slug)
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		undo(c)
		return nil, errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}

	// 3. The git repository, when the platform hosts git.
	if p.git != nil {
		if err := p.git.Create(ctx, pr.Slug); err != nil {
			undo(c)
			return nil, err
		}
		repoMade = true
	}

	// 4. Record where it lives and its sealed password.
	sealed := p.seal.seal([]byte(c.Password), pr.ID[:])
	pr.Status = StatusActive
	err = p.db.QueryRow(ctx, `UPDATE mosaic.projects SET status = $2, db_server = $3, db_host = $4, db_port = $5,
			db_user = $6, db_password = $7, extensions = $8, missing_extensions = $9, updated_at = now()
		WHERE id = $1 RETURNING updated_at`,
		pr.ID, pr.Status, c.Server, c.Host, c.Port, c.User, sealed, nonNil(c.Extensions), nonNil(c.Missing)).Scan(&pr.UpdatedAt)
	if err != nil {
		undo(c)
		return nil, dbError(err, "record project database")
	}
	pr.Database = DatabaseInfo{Server: c.Server, Name: c.Database, User: c.User, Host: c.Host, Port: c.Port,
		Extensions: nonNil(c.Extensions), MissingExtensions: nonNil(c.Missing)}
	p.log.Info("project created", "slug", pr.Slug, "plan", pr.Plan, "server", c.Server)
	return &CreatedProject{Project: pr, Credentials: Credentials{
		Host: c.Host, Port: c.Port, Database: c.Database, User: c.User, Password: c.Password}}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const projectCols = `id, account_id, name, slug, plan, status, created_at, updated_at,
	db_server, db_name, db_user, db_host, db_port, extensions, missing_extensions`

func scanProject(r pgx.Row, pr *Project, extra ...any) error {
	return r.Scan(append([]any{&pr.ID, &pr.AccountID, &pr.Name, &pr.Slug, &pr.Plan, &pr.Status, &pr.CreatedAt, &pr.UpdatedAt,
		&pr.Database.Server, &pr.Database.Name, &pr.Database.User, &pr.Database.Host, &pr.Database.Port,
		&pr.Database.Extensions, &pr.Database.MissingExtensions}, extra...)...)
}

func notFound(slug string) error {
	return errs.New(errs.NotFound, "project_not_found", "project %q not found", slug)
}

// Project returns one of the owner's projects. Another account's project is
// NotFound, exactly as a missing one, so its existence is not revealed.
func (p *Platform) Project(ctx context.Context, owner uuid.UUID, slug string) (*Project, error) {
	if ValidateSlug(slug) != nil {
		return nil, notFound(slug)
	}
	var pr Project
	err := scanProject(p.db.QueryRow(ctx, `SELECT `+projectCols+` FROM mosaic.projects WHERE slug = $1 AND account_id = $2`, slug, owner), &pr)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(slug)
	}
	if err != nil {
		return nil, dbError(err, "get project")
	}
	return &pr, nil
}

// Projects lists the owner's projects, oldest first.
func (p *Platform) Projects(ctx context.Context, owner uuid.UUID) ([]Project, error) {
	rows, err := p.db.Query(ctx, `SELECT `+projectCols+` FROM mosaic.projects WHERE account_id = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, dbError(err, "list projects")
	}
	prs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Project, error) {
		var pr Project
		return pr, scanProject(r, &pr)
	})
	if err != nil {
		return nil, dbError(err, "list projects")
	}
	return prs, nil
}

// Credentials returns the database credentials of one of the owner's
// projects, decrypting the stored password.
func (p *Platform) Credentials(ctx context.Context, owner uuid.UUID, slug string) (*Credentials, error) {
	pr, c, err := p.projectWithCredentials(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if pr.Status != StatusActive {
		return nil, errs.New(errs.Conflict, "project_not_ready", "project %q is %s", slug, pr.Status)
	}
	return c, nil
}

func (p *Platform) projectWithCredentials(ctx context.Context, owner uuid.UUID, slug string) (*Project, *Credentials, error) {
	if ValidateSlug(slug) != nil {
		return nil, nil, notFound(slug)
	}
	var (
		pr     Project
		sealed []byte
	)
	// uuid.Nil as the owner means any owner: the public lookups (sites, the
	// end-user auth links) know only the slug.
	err := scanProject(p.db.QueryRow(ctx, `SELECT `+projectCols+`, db_password FROM mosaic.projects
		WHERE slug = $1 AND (account_id = $2 OR $2 = '00000000-0000-0000-0000-000000000000'::uuid)`, slug, owner), &pr, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound(slug)
	}
	if err != nil {
		return nil, nil, dbError(err, "get project")
	}
	c := &Credentials{Host: pr.Database.Host, Port: pr.Database.Port, Database: pr.Database.Name, User: pr.Database.User}
	if sealed != nil {
		pw, err := p.seal.open(sealed, pr.ID[:])
		if err != nil {
			return nil, nil, errs.Internalf(err, "open the sealed password of project %s (was the secret key changed?)", slug)
		}
		c.Password = string(pw)
	}
	return &pr, c, nil
}

// DeleteProject removes one of the owner's projects: its database and role,
// then its row. A delete interrupted half way is finished by the next one, or
// by the reaper when the platform starts. While one runs, another delete of
// the same project is Conflict ("project_being_deleted"); after it, NotFound.
func (p *Platform) DeleteProject(ctx context.Context, owner uuid.UUID, slug string) error {
	if ValidateSlug(slug) != nil {
		return notFound(slug)
	}
	var (
		id         uuid.UUID
		server, db string
	)
	err := p.db.QueryRow(ctx, `UPDATE mosaic.projects SET status = $3, updated_at = now()
		WHERE slug = $1 AND account_id = $2 AND status <> $4
		RETURNING id, db_server, db_name`,
		slug, owner, StatusDeleting, StatusProvisioning).Scan(&id, &server, &db)
	if errors.Is(err, pgx.ErrNoRows) {
		// Either no such project, or one still being created.
		var st string
		if e := p.db.QueryRow(ctx, `SELECT status FROM mosaic.projects WHERE slug = $1 AND account_id = $2`, slug, owner).Scan(&st); e == nil {
			return errs.New(errs.Conflict, "project_not_ready", "project %q is still being created; try again shortly", slug)
		}
		return notFound(slug)
	}
	if err != nil {
		return dbError(err, "delete project")
	}
	return p.finishDelete(ctx, id, slug, server, db)
}

// finishDelete removes everything of a project claimed for deletion, then
// its row. One call per project runs at a time (a session advisory lock
// on a connection of its own, released if the process dies): another
// concurrent call gets Conflict, and one that comes after finds the project
// gone (NotFound). A call that failed half way can be retried at once.
func (p *Platform) finishDelete(ctx context.Context, id uuid.UUID, slug, server, db string) error {
	conn, err := p.db.Acquire(ctx)
	if err != nil {
		return dbError(err, "delete project")
	}
	defer conn.Release()
	key := "mosaic.project-delete:" + id.String()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil {
		return dbError(err, "delete project")
	}
	if !got {
		return errs.New(errs.Conflict, "project_being_deleted", "project %q is being deleted by another request", slug)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			conn.Conn().Close(uctx) // it may still hold the lock: never back to the pool
		}
	}()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mosaic.projects WHERE id = $1)`, id).Scan(&exists); err != nil {
		return dbError(err, "delete project")
	}
	if !exists {
		return notFound(slug) // another call deleted it meanwhile
	}
	p.forgetProject(id, slug)
	p.destroyDeployment(ctx, id) // deploy.go: its app, build and route
	if p.git != nil {
		if err := p.git.Delete(ctx, slug); err != nil {
			return err
		}
	}
	if err := p.deleteProjectStorage(ctx, id); err != nil { // storage.go: files and site
		return err
	}
	if p.cfg.KV != nil {
		if _, err := p.cfg.KV.For(id.String()).Flush(ctx); err != nil {
			// Not fatal: every key has a TTL (at most 7 days), index included.
			p.log.Warn("could not flush the key-value store of a deleted project", "slug", slug, "err", err)
		}
	}
	if server != "" {
		if err := p.dbs.Drop(ctx, server, db); err != nil {
			return err
		}
	}
	// The row goes; the id stays in deleted_projects until no upload URL
	// issued before now can land under it (sweepDeletedStorage).
	if _, err := p.db.Exec(ctx, `WITH gone AS (DELETE FROM mosaic.projects WHERE id = $1 RETURNING id)
		INSERT INTO mosaic.deleted_projects (id) SELECT id FROM gone
		ON CONFLICT (id) DO UPDATE SET deleted_at = now()`, id); err != nil {
		return dbError(err, "delete project row")
	}
	p.log.Info("project deleted", "slug", slug)
	return nil
}

// staleAfter is how long a project may stay provisioning or deleting before
// the reaper decides its operation was interrupted (a crash or a kill).
const staleAfter = 10 * time.Minute

// reapStale finishes operations that a stopped process left half done:
// projects stuck in "provisioning" or "deleting" lose their database, role and row.
func (p *Platform) reapStale(ctx context.Context) error {
	rows, err := p.db.Query(ctx, `SELECT id, slug, db_server, db_name FROM mosaic.projects
		WHERE status IN ($1, $2) AND updated_at < now() - $3::interval`,
		StatusProvisioning, StatusDeleting, fmt.Sprintf("%d seconds", int(staleAfter.Seconds())))
	if err != nil {
		return err
	}
	type stale struct {
		id               uuid.UUID
		slug, server, db string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stale, error) {
		var s stale
		return s, r.Scan(&s.id, &s.slug, &s.server, &s.db)
	})
	if err != nil {
		return err
	}
	for _, s := range list {
		servers := []string{s.server}
		if s.server == "" {
			// A create that was cut off before it recorded its placement: the
			// database may exist on any server.
			servers = p.serverNames()
		}
		for i, server := range servers {
			var err error
			if i == len(servers)-1 {
				err = p.finishDelete(ctx, s.id, s.slug, server, s.db)
			} else {
				err = p.dbs.Drop(ctx, server, s.db)
			}
			if err != nil {
				p.log.Warn("could not reap an interrupted project", "slug", s.slug, "server", server, "err", err)
				break
			}
		}
	}
	return nil
}

// serverNames lists the database servers, when the Databases backend can tell.
func (p *Platform) serverNames() []string {
	if l, ok := p.dbs.(interface{ ServerNames() []string }); ok {
		if names := l.ServerNames(); len(names) > 0 {
			return names
		}
	}
	return []string{"main"}
}

// SiteURL returns the address of a project's static site: {slug}.{domain},
// with the scheme and port of the public URL.
func (p *Platform) SiteURL(slug string) string {
	host := slug + "." + p.cfg.Domain
	if port := p.publicURL.Port(); port != "" {
		host += ":" + port
	}
	return p.publicURL.Scheme + "://" + host
}

// GitRepoURL returns the clone URL of a project's repository.
func (p *Platform) GitRepoURL(slug string) string {
	return p.publicURL.String() + "/git/" + slug + ".git"
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
