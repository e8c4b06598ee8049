package httpapi

import "github.com/mosaic-platform/mosaic"

// Request and response bodies that the handlers read or write without a
// named type of their own, named here so that the OpenAPI document (see
// openapi.go) describes them. A member with omitempty is optional.

// CreateProjectRequest is the body of POST /projects.
type CreateProjectRequest struct {
	Name string `json:"name"`
	// Slug is generated from the name when empty.
	Slug string `json:"slug,omitempty"`
	// Plan defaults to the platform's default plan.
	Plan string `json:"plan,omitempty"`
}

// CreateTicketRequest is the body of POST /tickets.
type CreateTicketRequest struct {
	Subject string `json:"subject"`
	Message string `json:"message"`
	// ProjectID is a project id or slug of the same account.
	ProjectID string `json:"project_id,omitempty"`
}

// GitFileRequest is the body of POST /{slug}/git/files.
type GitFileRequest struct {
	Path string `json:"path"`
	// Content is the file's bytes in base64 (standard alphabet, padded).
	Content string `json:"content"`
	Message string `json:"message"`
	Branch  string `json:"branch,omitempty"`
	Deploy  bool   `json:"deploy,omitempty"`
}

// SettingsRequest is the body of PATCH /{slug}/settings.
type SettingsRequest struct {
	AutoDeploy bool `json:"auto_deploy"`
}

// CreateWebhookRequest is the body of POST /{slug}/webhooks.
type CreateWebhookRequest struct {
	URL string `json:"url"`
	// Events defaults to every event.
	Events []string `json:"events,omitempty"`
}

// WebhookDeleted is the body of DELETE /{slug}/webhooks/{id}.
type WebhookDeleted struct {
	Deleted bool `json:"deleted"`
}

// KVSetRequest is the body of POST /{slug}/redis/set.
type KVSetRequest struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// TTL is in seconds (default 3600, at most 604800).
	TTL *int64 `json:"ttl,omitempty"`
}

// KVKeyRequest is the body of get, ttl, lpop and rpop.
type KVKeyRequest struct {
	Key string `json:"key"`
}

// KVMultiKeyRequest is the body of delete and mget (at most 50 keys).
type KVMultiKeyRequest struct {
	Keys []string `json:"keys"`
}

// KVMSetRequest is the body of mset (at most 50 items).
type KVMSetRequest struct {
	Items map[string]string `json:"items"`
	TTL   *int64            `json:"ttl,omitempty"`
}

// KVExpireRequest is the body of expire.
type KVExpireRequest struct {
	Key string `json:"key"`
	TTL int64  `json:"ttl"`
}

// KVCounterRequest is the body of incr and decr.
type KVCounterRequest struct {
	Key string `json:"key"`
	// Amount defaults to 1.
	Amount *int64 `json:"amount,omitempty"`
	TTL    *int64 `json:"ttl,omitempty"`
}

// KVPushRequest is the body of lpush and rpush.
type KVPushRequest struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
	TTL    *int64   `json:"ttl,omitempty"`
}

// KVRangeRequest is the body of lrange.
type KVRangeRequest struct {
	Key   string `json:"key"`
	Start *int64 `json:"start,omitempty"`
	Stop  *int64 `json:"stop,omitempty"`
}

// KVPublishRequest is the body of publish.
type KVPublishRequest struct {
	Channel string `json:"channel"`
	Message string `json:"message"`
}

// KVKeysRequest is the body of keys (optional).
type KVKeysRequest struct {
	// Pattern is a glob (default "*").
	Pattern string `json:"pattern,omitempty"`
	// Count defaults to 100, at most 1000.
	Count *int `json:"count,omitempty"`
}

// Other packages' body types, named here for route files that do not
// import those packages (reflection sees the aliased type).
type (
	ticketBody    = mosaic.Ticket
	sqlResult     = mosaic.SQLResult
	databaseUsage = mosaic.DatabaseUsage
	settingsBody  = mosaic.Settings
)
