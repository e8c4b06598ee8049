package mosaic

import (
	"maps"
	"time"
)

// Plan is a named set of limits. The platform's plan table is configurable
// (Config.Plans); DefaultPlans returns the table from the API reference.
type Plan struct {
	Name string `json:"name"`
	// SQLTimeout bounds one POST /{slug}/sql request; 0 means Config.SQLTimeout.
	SQLTimeout time.Duration `json:"-"`
	// DatabaseBytes caps the tenant database size; writes over it get 402.
	DatabaseBytes int64 `json:"database_bytes"`
	// StorageBytes caps object storage.
	StorageBytes int64 `json:"storage_bytes"`
	// RedisBytes caps the key-value store; 0 means no key-value access (402).
	RedisBytes int64 `json:"redis_bytes"`
	// SQLQueriesPerHour limits POST /{slug}/sql.
	SQLQueriesPerHour int `json:"sql_queries_per_hour"`
	// RedisOpsPerHour limits key-value operations; 0 means no access.
	RedisOpsPerHour int `json:"redis_ops_per_hour"`
	// MagicLinksPerDay limits magic-link emails.
	MagicLinksPerDay int `json:"magic_links_per_day"`
	// ContainerMemoryBytes and ContainerCPU size each deployment's container.
	ContainerMemoryBytes int64   `json:"container_memory_bytes"`
	ContainerCPU         float64 `json:"container_cpu"`
	// DBConnections is the tenant role's CONNECTION LIMIT.
	DBConnections int `json:"db_connections"`
	// DBTempFileLimit is the tenant role's temp_file_limit (a PostgreSQL size, e.g. "1GB").
	DBTempFileLimit string `json:"db_temp_file_limit"`
}

const (
	kb = int64(1) << 10
	mb = kb << 10
	gb = mb << 10
	tb = gb << 10
)

// DefaultPlanName is the plan a project gets when none is asked for and
// Config.DefaultPlan is empty.
const DefaultPlanName = "free"

// DefaultPlans returns the plan table of the API reference: free, starter,
// pro and enterprise. The caller owns the returned map.
func DefaultPlans() map[string]Plan {
	return maps.Clone(defaultPlans)
}

var defaultPlans = map[string]Plan{
	"free": {
		Name: "free", DatabaseBytes: 2 * gb, StorageBytes: 5 * gb,
		SQLQueriesPerHour: 1_000, MagicLinksPerDay: 10,
		ContainerMemoryBytes: 512 * mb, ContainerCPU: 0.5,
		DBConnections: 10, DBTempFileLimit: "1GB",
	},
	"starter": {
		Name: "starter", DatabaseBytes: 10 * gb, StorageBytes: 20 * gb,
		SQLQueriesPerHour: 10_000, MagicLinksPerDay: 100,
		ContainerMemoryBytes: 1 * gb, ContainerCPU: 1,
		DBConnections: 20, DBTempFileLimit: "2GB",
	},
	"pro": {
		Name: "pro", DatabaseBytes: 50 * gb, StorageBytes: 100 * gb, RedisBytes: 100 * mb,
		SQLQueriesPerHour: 100_000, RedisOpsPerHour: 10_000, MagicLinksPerDay: 1_000,
		ContainerMemoryBytes: 2 * gb, ContainerCPU: 2,
		DBConnections: 40, DBTempFileLimit: "5GB",
	},
	"enterprise": {
		Name: "enterprise", DatabaseBytes: 500 * gb, StorageBytes: 1 * tb, RedisBytes: 500 * mb,
		SQLQueriesPerHour: 1_000_000, RedisOpsPerHour: 100_000, MagicLinksPerDay: 10_000,
		ContainerMemoryBytes: 8 * gb, ContainerCPU: 4,
		DBConnections: 100, DBTempFileLimit: "20GB",
	},
}
