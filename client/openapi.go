package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// OpenAPI returns the API's OpenAPI 3.1 document (GET /openapi.json), the
// reference generated from the route table the server mounts.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	if err := c.Do(ctx, http.MethodGet, "/openapi.json", nil, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}
