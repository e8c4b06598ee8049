package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func ExampleClient_CreateProject() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx) // a platform served over HTTP
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	c := client.New(env.BaseURL, env.APIKey)
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "My App"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	info, err := c.ProjectInfo(ctx, p.Slug)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Status, info.Plan, p.Database.Name == mosaic.DatabaseName(p.Slug))

	_, err = c.ProjectInfo(ctx, "no-such-project")
	fmt.Println(errors.Is(err, mosaic.ErrNotFound))
	// Output:
	// active free true
	// true
}
