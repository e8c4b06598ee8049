package mosaic_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestProjectRaces: 6 creates of one name at the same moment give 6
// projects with 6 slugs (or a clear 4xx), each with its own working
// database; 6 deletes of one project at the same moment delete it once
// (the others not found or not ready), never a server error.
func TestProjectRaces(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	p, owner := env.Platform, env.Account.ID

	var mu sync.Mutex
	var slugs []string
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Same Name"})
			if err != nil {
				if k := errs.As(err).Kind; k == errs.Internal || k == errs.Unavailable {
					t.Errorf("create: %v", err)
				}
				return
			}
			mu.Lock()
			slugs = append(slugs, cp.Slug)
			mu.Unlock()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range slugs {
		if seen[s] {
			t.Errorf("slug %s given twice: %v", s, slugs)
		}
		seen[s] = true
		if _, err := p.SQL(ctx, owner, s, "CREATE TABLE mine (x int)"); err != nil {
			t.Errorf("project %s: %v", s, err)
		}
	}
	if len(slugs) == 0 {
		t.Fatal("no create succeeded")
	}
	t.Logf("created %v", slugs)

	victim := slugs[0]
	var deleted, errors sync.Map
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.DeleteProject(ctx, owner, victim)
			if err == nil {
				deleted.Store(i, true)
				return
			}
			errors.Store(i, err)
			if k := errs.As(err).Kind; k != errs.NotFound && k != errs.Conflict {
				t.Errorf("a concurrent delete: %v", err)
			}
		}()
	}
	wg.Wait()
	n := 0
	deleted.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		var es []any
		errors.Range(func(_, v any) bool { es = append(es, v); return true })
		t.Errorf("%d deletes succeeded (errors %v)", n, es)
	}
	if _, err := p.SQL(ctx, owner, victim, "SELECT 1"); errs.As(err).Kind != errs.NotFound {
		t.Errorf("SQL on the deleted project: %v", err)
	}
	for _, s := range slugs[1:] {
		if _, err := p.SQL(ctx, owner, s, "SELECT count(*) FROM mine"); err != nil {
			t.Errorf("the other project %s after the delete: %v", s, err)
		}
		if err := p.DeleteProject(ctx, owner, s); err != nil {
			t.Errorf("delete %s: %v", s, err)
		}
	}
}
