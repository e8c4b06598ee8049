package mosaic

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// ReconcileListing lets tests replay a store listing of a project's files
// area that began at since, as a slow background reconciliation would.
func (p *Platform) ReconcileListing(ctx context.Context, id uuid.UUID, since time.Time, names []string, sizes []int64) error {
	return p.reconcile(ctx, id, areaFiles, "", since, names, sizes)
}

// SweepDeletedStorage lets tests run the sweep of deleted projects'
// storage with a grace of their choosing.
func (p *Platform) SweepDeletedStorage(ctx context.Context, grace time.Duration) (int, error) {
	return p.sweepDeletedStorage(ctx, grace)
}
