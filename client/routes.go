package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Route is one entry of the discover list.
type Route struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Description string `json:"description"`
	Auth        bool   `json:"auth"`
}

// Discovery is the answer of GET /.
type Discovery struct {
	Name      string  `json:"name"`
	BaseURL   string  `json:"base_url"`
	Auth      string  `json:"auth"`
	Endpoints []Route `json:"endpoints"`
}

// Discover lists the API's routes.
func (c *Client) Discover(ctx context.Context) (*Discovery, error) {
	var d Discovery
	return &d, c.Do(ctx, http.MethodGet, "/", nil, &d)
}

// Account is an account as the API shows it.
type Account struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Key is an API key's metadata.
type Key struct {
	ID         uuid.UUID  `json:"id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Whoami is the answer of GET /whoami.
type Whoami struct {
	Account Account `json:"account"`
	Key     Key     `json:"key"`
}

// Whoami returns the account and key making the call.
func (c *Client) Whoami(ctx context.Context) (*Whoami, error) {
	var w Whoami
	return &w, c.Do(ctx, http.MethodGet, "/whoami", nil, &w)
}

// Rotation is the answer of POST /keys/rotate.
type Rotation struct {
	Key         string `json:"key"`
	NewKey      Key    `json:"new_key"`
	PreviousKey Key    `json:"previous_key"`
}

// RotateKey makes a new key; the one this client uses keeps working for the
// platform's grace period. Use c.WithKey(r.Key) afterwards.
func (c *Client) RotateKey(ctx context.Context) (*Rotation, error) {
	var r Rotation
	return &r, c.Do(ctx, http.MethodPost, "/keys/rotate", nil, &r)
}

// CreateProjectRequest asks for a project.
type CreateProjectRequest struct {
	Name string `json:"name"`
	Slug string `json:"slug,omitempty"`
	Plan string `json:"plan,omitempty"`
}

// CreatedProject is the answer of POST /projects.
type CreatedProject struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Slug     string    `json:"slug"`
	Database struct {
		Name     string `json:"name"`
		Host     string `json:"host"`
		Port     int    `json:"port"`
		User     string `json:"user"`
		Password string `json:"password"`
	} `json:"database"`
	GitRepoURL string `json:"git_repo_url"`
}

// CreateProject makes a project. It is not retried.
func (c *Client) CreateProject(ctx context.Context, r CreateProjectRequest) (*CreatedProject, error) {
	var p CreatedProject
	return &p, c.Do(ctx, http.MethodPost, "/projects", r, &p)
}

// ProjectSummary is one entry of ListProjects.
type ProjectSummary struct {
	ID        uuid.UUID `json:"id"`
	ProjectID string    `json:"project_id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ListProjects lists the account's projects.
func (c *Client) ListProjects(ctx context.Context) ([]ProjectSummary, error) {
	var out struct {
		Projects []ProjectSummary `json:"projects"`
	}
	return out.Projects, c.Do(ctx, http.MethodGet, "/projects", nil, &out)
}

// Limits are the limits of a plan.
type Limits struct {
	Name                 string  `json:"name"`
	DatabaseBytes        int64   `json:"database_bytes"`
	StorageBytes         int64   `json:"storage_bytes"`
	RedisBytes           int64   `json:"redis_bytes"`
	SQLQueriesPerHour    int     `json:"sql_queries_per_hour"`
	RedisOpsPerHour      int     `json:"redis_ops_per_hour"`
	MagicLinksPerDay     int     `json:"magic_links_per_day"`
	ContainerMemoryBytes int64   `json:"container_memory_bytes"`
	ContainerCPU         float64 `json:"container_cpu"`
	DBConnections        int     `json:"db_connections"`
	DBTempFileLimit      string  `json:"db_temp_file_limit"`
}

// ProjectInfo is the answer of GET /{slug}/info.
type ProjectInfo struct {
	ID         uuid.UUID `json:"id"`
	ProjectID  string    `json:"project_id"`
	Slug       string    `json:"slug"`
	Name       string    `json:"name"`
	Plan       string    `json:"plan"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	URL        string    `json:"url"`
	GitRepoURL string    `json:"git_repo_url"`
	Database   struct {
		Server            string   `json:"server"`
		Name              string   `json:"name"`
		User              string   `json:"user"`
		Host              string   `json:"host"`
		Port              int      `json:"port"`
		Extensions        []string `json:"extensions"`
		MissingExtensions []string `json:"missing_extensions"`
	} `json:"database"`
	Limits Limits `json:"limits"`
}

// ProjectInfo returns a project's details.
func (c *Client) ProjectInfo(ctx context.Context, slug string) (*ProjectInfo, error) {
	var p ProjectInfo
	return &p, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/info", nil, &p)
}

// Credentials is the answer of GET /{slug}/credentials.
type Credentials struct {
	ProjectID   string `json:"project_id"`
	DatabaseURL string `json:"database_url"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Database    string `json:"database"`
	User        string `json:"user"`
	Password    string `json:"password"`
}

// Credentials returns a project's database credentials.
func (c *Client) Credentials(ctx context.Context, slug string) (*Credentials, error) {
	var cr Credentials
	return &cr, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/credentials", nil, &cr)
}

// Setup returns a project's setup guide, in markdown.
func (c *Client) Setup(ctx context.Context, slug string) (string, error) {
	var s string
	// Not `return s, c.Do(..., &s)`: Go leaves unspecified whether s is read
	// before or after the call.
	err := c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/setup", nil, &s)
	return s, err
}

// DeleteProject deletes a project and its database.
func (c *Client) DeleteProject(ctx context.Context, slug string) error {
	return c.Do(ctx, http.MethodDelete, "/"+esc(slug), nil, nil)
}

// Ticket is a support ticket.
type Ticket struct {
	ID          int64      `json:"ticket_id"`
	ProjectID   *uuid.UUID `json:"project_id"`
	ProjectSlug string     `json:"project_slug,omitempty"`
	Subject     string     `json:"subject"`
	Message     string     `json:"message"`
	Status      string     `json:"status"`
	Response    *string    `json:"response"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// CreateTicketRequest asks for a ticket. ProjectID is a project id or slug.
type CreateTicketRequest struct {
	Subject   string `json:"subject"`
	Message   string `json:"message"`
	ProjectID string `json:"project_id,omitempty"`
}

// CreateTicket files a support ticket. It is not retried.
func (c *Client) CreateTicket(ctx context.Context, r CreateTicketRequest) (*Ticket, error) {
	var out struct {
		Ticket Ticket `json:"ticket"`
	}
	return &out.Ticket, c.Do(ctx, http.MethodPost, "/tickets", r, &out)
}

// ListTickets lists the account's tickets, newest first.
func (c *Client) ListTickets(ctx context.Context) ([]Ticket, error) {
	var out struct {
		Tickets []Ticket `json:"tickets"`
	}
	return out.Tickets, c.Do(ctx, http.MethodGet, "/tickets", nil, &out)
}

// Ticket returns one ticket.
func (c *Client) Ticket(ctx context.Context, id int64) (*Ticket, error) {
	var t Ticket
	return &t, c.Do(ctx, http.MethodGet, "/tickets/"+strconv.FormatInt(id, 10), nil, &t)
}
