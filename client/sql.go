package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// SQLRequest is the body of POST /{slug}/sql.
type SQLRequest struct {
	Query  string `json:"query"`
	Params []any  `json:"params,omitempty"`
}

// SQLResult is the answer of POST /{slug}/sql. Rows is the JSON array of
// row objects, exact as the server wrote it: unmarshal it into your own
// types (use json.Decoder.UseNumber or json.Number fields for int8 and
// numeric values you want exact).
type SQLResult struct {
	Rows     json.RawMessage `json:"rows"`
	RowCount int64           `json:"row_count"`
	Columns  []string        `json:"columns"`
	Command  string          `json:"command"`
}

// SQL runs a query in the project's database. It is not retried.
func (c *Client) SQL(ctx context.Context, slug, query string, params ...any) (*SQLResult, error) {
	var r SQLResult
	return &r, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/sql", SQLRequest{Query: query, Params: params}, &r)
}

// DatabaseUsage is the answer of GET /{slug}/database/usage.
type DatabaseUsage struct {
	SizeBytes    int64   `json:"size_bytes"`
	LimitBytes   int64   `json:"limit_bytes"`
	UsagePercent float64 `json:"usage_percent"`
	Plan         string  `json:"plan"`
}

// DatabaseUsage returns the size of the project's database against its plan's limit.
func (c *Client) DatabaseUsage(ctx context.Context, slug string) (*DatabaseUsage, error) {
	var u DatabaseUsage
	return &u, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/database/usage", nil, &u)
}
