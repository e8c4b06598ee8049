package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
)

// ProjectCreated is the body of POST /projects: exactly the API reference's shape.
type ProjectCreated struct {
	ID         uuid.UUID       `json:"id"`
	Name       string          `json:"name"`
	Slug       string          `json:"slug"`
	Database   DatabaseCreated `json:"database"`
	GitRepoURL string          `json:"git_repo_url"`
}

// DatabaseCreated is the database block of ProjectCreated.
type DatabaseCreated struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
}

func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
		Plan string `json:"plan"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	cp, err := h.p.CreateProject(r.Context(), principal(r).Account.ID, mosaic.NewProject{Name: in.Name, Slug: in.Slug, Plan: in.Plan})
	if err != nil {
		return err
	}
	c := cp.Credentials
	writeJSON(w, http.StatusCreated, ProjectCreated{
		ID: cp.ID, Name: cp.Name, Slug: cp.Slug,
		Database:   DatabaseCreated{Name: c.Database, Host: c.Host, Port: c.Port, User: c.User, Password: c.Password},
		GitRepoURL: h.p.GitRepoURL(cp.Slug),
	})
	return nil
}

// ProjectSummary is one entry of GET /projects.
type ProjectSummary struct {
	ID        uuid.UUID `json:"id"`
	ProjectID string    `json:"project_id"` // the slug, as in the v1 guide
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ProjectList is the body of GET /projects.
type ProjectList struct {
	Projects []ProjectSummary `json:"projects"`
}

func (h *Handler) listProjects(w http.ResponseWriter, r *http.Request) error {
	prs, err := h.p.Projects(r.Context(), principal(r).Account.ID)
	if err != nil {
		return err
	}
	out := ProjectList{Projects: make([]ProjectSummary, 0, len(prs))}
	for _, pr := range prs {
		out.Projects = append(out.Projects, ProjectSummary{ID: pr.ID, ProjectID: pr.Slug, Slug: pr.Slug, Name: pr.Name,
			Plan: pr.Plan, Status: pr.Status, URL: h.p.SiteURL(pr.Slug), CreatedAt: pr.CreatedAt, UpdatedAt: pr.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ProjectInfo is the body of GET /{slug}/info.
type ProjectInfo struct {
	ID         uuid.UUID           `json:"id"`
	ProjectID  string              `json:"project_id"`
	Slug       string              `json:"slug"`
	Name       string              `json:"name"`
	Plan       string              `json:"plan"`
	Status     string              `json:"status"`
	CreatedAt  time.Time           `json:"created_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
	URL        string              `json:"url"`
	GitRepoURL string              `json:"git_repo_url"`
	Database   mosaic.DatabaseInfo `json:"database"`
	Limits     mosaic.Plan         `json:"limits"`
}

func (h *Handler) projectInfo(w http.ResponseWriter, r *http.Request) error {
	pr, err := h.p.Project(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	limits, _ := h.p.Plan(pr.Plan)
	writeJSON(w, http.StatusOK, ProjectInfo{ID: pr.ID, ProjectID: pr.Slug, Slug: pr.Slug, Name: pr.Name, Plan: pr.Plan,
		Status: pr.Status, CreatedAt: pr.CreatedAt, UpdatedAt: pr.UpdatedAt, URL: h.p.SiteURL(pr.Slug),
		GitRepoURL: h.p.GitRepoURL(pr.Slug), Database: pr.Database, Limits: limits})
	return nil
}

// CredentialsResponse is the body of GET /{slug}/credentials.
type CredentialsResponse struct {
	ProjectID   string `json:"project_id"`
	DatabaseURL string `json:"database_url"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Database    string `json:"database"`
	User        string `json:"user"`
	Password    string `json:"password"`
}

func (h *Handler) projectCredentials(w http.ResponseWriter, r *http.Request) error {
	slug := r.PathValue("slug")
	c, err := h.p.Credentials(r.Context(), principal(r).Account.ID, slug)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, CredentialsResponse{ProjectID: slug, DatabaseURL: c.URL(), Host: c.Host, Port: c.Port,
		Database: c.Database, User: c.User, Password: c.Password})
	return nil
}

// DeleteResponse is the body of DELETE /{slug}.
type DeleteResponse struct {
	Deleted bool   `json:"deleted"`
	Slug    string `json:"slug"`
}

func (h *Handler) deleteProject(w http.ResponseWriter, r *http.Request) error {
	slug := r.PathValue("slug")
	if err := h.p.DeleteProject(r.Context(), principal(r).Account.ID, slug); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeleteResponse{Deleted: true, Slug: slug})
	return nil
}

func (h *Handler) projectSetup(w http.ResponseWriter, r *http.Request) error {
	pr, err := h.p.Project(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	api := h.p.PublicURL() + h.opts.Prefix
	var b strings.Builder
	fmt.Fprintf(&b, "# %s — setup\n\n", pr.Name)
	fmt.Fprintf(&b, "Project slug: `%s` (plan: %s, status: %s)\n\n", pr.Slug, pr.Plan, pr.Status)
	fmt.Fprintf(&b, "## Environment\n\n```bash\nexport API=%q\nexport KEY=\"mk_your_api_key\"   # never commit it\nexport SLUG=%q\n```\n\n", api, pr.Slug)
	fmt.Fprintf(&b, "## Database\n\nPostgreSQL database `%s` on `%s:%d`, user `%s`.\n", pr.Database.Name, pr.Database.Host, pr.Database.Port, pr.Database.User)
	if len(pr.Database.Extensions) > 0 {
		fmt.Fprintf(&b, "Extensions installed: %s.\n", strings.Join(pr.Database.Extensions, ", "))
	}
	if len(pr.Database.MissingExtensions) > 0 {
		fmt.Fprintf(&b, "Not available on this server: %s.\n", strings.Join(pr.Database.MissingExtensions, ", "))
	}
	fmt.Fprintf(&b, "\nGet the password and a connection URL (keep them secret):\n\n```bash\ncurl \"$API/$SLUG/credentials\" -H \"X-API-Key: $KEY\"\n```\n\n")
	fmt.Fprintf(&b, "Run SQL over HTTP (always pass values as `params`, never in the query text):\n\n```bash\ncurl -X POST \"$API/$SLUG/sql\" -H \"X-API-Key: $KEY\" -H \"Content-Type: application/json\" \\\n  -d '{\"query\": \"SELECT $1::text AS hello\", \"params\": [\"world\"]}'\n```\n\n")
	fmt.Fprintf(&b, "## Site and repository\n\n- Site: %s\n- Git: `git clone %s`\n\n", h.p.SiteURL(pr.Slug), h.p.GitRepoURL(pr.Slug))
	fmt.Fprintf(&b, "## More\n\n`curl \"$API/\"` lists every route.\n")
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(b.String()))
	return err
}
