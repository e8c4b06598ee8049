package docker_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
	"github.com/mosaic-platform/mosaic/deployer/process"
)

// Build a commit's tree with a generated Dockerfile, run it with a plan's
// limits, and find it again by its labels.
func Example() {
	ctx := context.Background()
	rt, err := docker.New(docker.Config{}) // DOCKER_HOST, else the default socket
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.Ping(ctx); err != nil {
		log.Fatal(err) // no daemon: use the process runtime instead
	}

	src, err := os.Open("commit.tar") // gitpush's archive of the commit
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	plan := deployer.Plan{Stack: deployer.StackStatic, Start: deployer.StaticStart}
	plan.Dockerfile = deployer.Dockerfile(plan, deployer.DefaultImages())
	// The image gets the project's labels (the same at every build: they
	// stay in the layer cache), the container the deployment's too.
	art, err := rt.Build(ctx, deployer.BuildSpec{
		Tag: "mosaic/shop:dep_1", Plan: plan, Source: src, Logs: os.Stdout,
		Labels: map[string]string{deployer.LabelProject: "prj_1"},
	})
	if err != nil {
		log.Fatal(err) // a failed build: the message ends with the compiler's output
	}
	in, err := rt.Run(ctx, deployer.RunSpec{
		Name: "mosaic-shop-dep_1", Artifact: art.Ref, Port: deployer.DefaultPort,
		MemoryBytes: 512 << 20, NanoCPUs: 500_000_000,
		Labels: map[string]string{deployer.LabelProject: "prj_1", deployer.LabelDeployment: "dep_1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("serving on", in.Addr) // 127.0.0.1:<port>

	// After a platform restart: the running deployments, from Docker.
	running, err := rt.List(ctx, map[string]string{deployer.LabelProject: "prj_1"})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range running {
		fmt.Println(in.Labels[deployer.LabelDeployment], in.State, in.Addr)
	}
	_ = rt.Stop(ctx, in.ID, 10*time.Second)
}

// Apps with code in containers, static sites served by the platform itself
// (no container: they run no code of their own).
func ExampleRuntime_withStaticSites() {
	apps, err := docker.New(docker.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer apps.Close()
	sites, err := process.New(process.Config{Dir: "/var/lib/mosaic/sites"})
	if err != nil {
		log.Fatal(err)
	}
	defer sites.Close()
	rt := deployer.WithStaticSites(apps, sites)
	static := deployer.Plan{Stack: deployer.StackStatic, Start: deployer.StaticStart}
	node := deployer.Plan{Stack: deployer.StackNode, Start: "node server.js"}
	fmt.Println(deployer.RuntimeFor(rt, static).Name(), deployer.RuntimeFor(rt, node).Name())
	// The Runtime for deployer.Config (or mosaic.Config.Runtime).
	_ = rt
}
