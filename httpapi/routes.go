package httpapi

import "net/http"

// routeTable is the one list of routes: it is mounted, it is what GET /
// publishes, and tests walk it. Each capability keeps its rows in its own
// file and adds one line here.
func (h *Handler) routeTable() []Route {
	var rs []Route
	rs = append(rs, h.coreRoutes()...)
	rs = append(rs, h.sqlRoutes()...)
	rs = append(rs, h.kvRoutes()...)
	rs = append(rs, h.gitRoutes()...)
	rs = append(rs, h.webhookRoutes()...)
	rs = append(rs, h.deployRoutes()...)
	rs = append(rs, h.storageRoutes()...)
	rs = append(rs, h.authRoutes()...)
	return rs
}

// coreRoutes are the foundation's routes: discovery, account, projects, tickets.
func (h *Handler) coreRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/", Description: "Discover the API: every route with its method and a one-line description", Out: DiscoverResponse{}, handle: h.discover},
		{Method: "GET", Path: "/openapi.json", Description: "This API's OpenAPI 3.1 document, generated from the route table the server mounts", Out: map[string]any{}, handle: h.serveOpenAPI},

		{Method: "GET", Path: "/whoami", Auth: true, Description: "The account and the API key making the request", Out: WhoamiResponse{}, handle: h.whoami},
		{Method: "POST", Path: "/keys/rotate", Auth: true, Description: "Make a new API key (shown once); the current key keeps working for a grace period", Out: RotateResponse{}, Status: http.StatusCreated, handle: h.rotateKey},

		{Method: "GET", Path: "/projects", Auth: true, Description: "List your projects", Out: ProjectList{}, handle: h.listProjects},
		{Method: "POST", Path: "/projects", Auth: true, Description: `Create a project: {"name", "slug?", "plan?"}`, In: CreateProjectRequest{}, Out: ProjectCreated{}, Status: http.StatusCreated, handle: h.createProject},
		{Method: "GET", Path: "/{slug}/info", Auth: true, Description: "Project details: plan, status, dates, database and the limits in force", Out: ProjectInfo{}, handle: h.projectInfo},
		{Method: "GET", Path: "/{slug}/credentials", Auth: true, Description: "Database connection string and credentials", Out: CredentialsResponse{}, handle: h.projectCredentials},
		{Method: "GET", Path: "/{slug}/setup", Auth: true, Description: "Setup guide for the project (markdown)", Out: RawBody{ContentType: "text/markdown"}, handle: h.projectSetup},
		{Method: "DELETE", Path: "/{slug}", Auth: true, Description: "Delete the project and its database", Out: DeleteResponse{}, handle: h.deleteProject},

		{Method: "GET", Path: "/tickets", Auth: true, Description: "List your support tickets", Out: TicketList{}, handle: h.listTickets},
		{Method: "POST", Path: "/tickets", Auth: true, Description: `Create a support ticket: {"subject", "message", "project_id?"}`, In: CreateTicketRequest{}, Out: TicketCreated{}, Status: http.StatusCreated, handle: h.createTicket},
		{Method: "GET", Path: "/tickets/{id}", Auth: true, Description: "A ticket with its response", Out: ticketBody{}, handle: h.getTicket},
	}
}

// DiscoverResponse is the body of GET /.
type DiscoverResponse struct {
	Name      string  `json:"name"`
	BaseURL   string  `json:"base_url"`
	Auth      string  `json:"auth"`
	Endpoints []Route `json:"endpoints"`
}

func (h *Handler) discover(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, DiscoverResponse{
		Name:      "Mosaic platform API",
		BaseURL:   h.p.PublicURL() + h.opts.Prefix,
		Auth:      "send your API key in the X-API-Key header",
		Endpoints: h.routes,
	})
	return nil
}
