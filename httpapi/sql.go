package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mosaic-platform/mosaic/errs"
)

// sqlRoutes are the SQL capability's routes.
func (h *Handler) sqlRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/sql", Auth: true, Description: `Run SQL as the project's database role: {"query", "params?"} → {"rows", "row_count", "columns", "command"}`, In: SQLRequest{}, Out: sqlResult{}, handle: h.runSQL},
		{Method: "GET", Path: "/{slug}/database/usage", Auth: true, Description: "Database size against the plan's limit: size_bytes, limit_bytes, usage_percent, plan", Out: databaseUsage{}, handle: h.databaseUsage},
	}
}

// SQLRequest is the body of POST /{slug}/sql.
type SQLRequest struct {
	Query  string            `json:"query"`
	Params []json.RawMessage `json:"params,omitempty"`
}

func (h *Handler) runSQL(w http.ResponseWriter, r *http.Request) error {
	var in SQLRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Query == "" {
		return errs.New(errs.Invalid, "invalid_query", `"query" is required: the SQL to run`)
	}
	params := make([]any, len(in.Params))
	for i, p := range in.Params {
		if p == nil {
			params[i] = json.RawMessage("null")
		} else {
			params[i] = p
		}
	}
	res, err := h.p.SQL(r.Context(), principal(r).Account.ID, r.PathValue("slug"), in.Query, params...)
	if err != nil {
		return err
	}
	// The rows are JSON already: write them without a second encoding pass.
	b := res.AppendJSON(make([]byte, 0, len(res.Rows)+128))
	b = append(b, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

func (h *Handler) databaseUsage(w http.ResponseWriter, r *http.Request) error {
	u, err := h.p.DatabaseUsage(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
