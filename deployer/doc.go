// Package deployer builds and runs projects' apps from their git trees.
//
// Three parts, each usable alone:
//
//   - Detect (pure) looks at a source tree and returns a Plan: the stack, the
//     build commands, the start command; Dockerfile turns a Plan into a
//     Dockerfile for the Docker runtime, FROM configurable base Images.
//   - Runtime is the seam to where apps run: package deployer/process runs
//     them as local child processes (the embedded default; no tenant
//     isolation), package deployer/docker on a Docker Engine.
//     WithStaticSites combines two: static sites, which run no code of
//     their own, on one (the process runtime serves their files itself, in
//     milliseconds), every other app on the other (Docker, where starting a
//     container alone takes ~0.6 s).
//   - Manager owns the lifecycle: asynchronous deployments, health checks,
//     zero-downtime swaps, stop/start/restart/destroy, logs, routing to the
//     running instance, and rebuilding its state from the runtime after a
//     restart.
//
// # Deployments
//
// Manager.Deploy records a deployment as pending and returns at once. A
// worker per project then runs it: building (fetch the tree with
// Source.Archive, Detect, Runtime.Build, Runtime.Run), then a health check —
// the instance must accept TCP connections on its address and answer an
// HTTP GET / (any status) within Config.HealthTimeout. Only then does
// traffic move to it (running). The previous instance first finishes the
// requests it was serving when traffic moved (it drains, for at most
// Config.DrainTimeout, 30 s by default: a longer stream or websocket is
// cut), then it and what its build made are removed, in the background:
// the next deployment does not wait for it, Destroy does. A failed build,
// an app that exits or never listens, ends the deployment as failed and
// leaves the previous version serving.
//
// Deployments of one project run one at a time. While one runs, a new
// request waits in a queue of one: a newer request supersedes the queued one,
// which ends as "superseded" without being built (the running one is never
// interrupted). So a burst of pushes builds the first and the last. Destroy
// cancels the running one and supersedes the queued one; a deployment
// requested while the destroy is still tearing the app down waits for it to
// end, then starts the project afresh.
//
// Statuses of a deployment: pending → building → running | failed, and
// later stopped (the user stopped it), inactive (a newer deployment replaced
// it, or it was destroyed) or superseded (never built).
//
// # Routing
//
// Manager.ServeApp reverse-proxies a request to the project's running
// instance (websocket upgrades and streamed responses pass through) and
// answers 503 with a short page while the app is stopped or not running. It
// reports false when the project has no live deployment, so that the caller
// can serve the project's static files instead.
//
// # State
//
// History lives in a Store (the platform keeps it in its control
// database); build logs are kept in memory while a deployment runs and in
// the Store once it ends; runtime logs come from the Runtime. Every
// instance carries the labels LabelManaged, LabelProject, LabelSlug and
// LabelDeployment, so Manager.Rehydrate rebuilds the routing table from
// Runtime.List after a platform restart. What a build makes carries the
// project's labels only (LabelManaged, LabelProject, LabelSlug and, with
// Config.Instance, LabelPlatform): the same at every build of the project,
// they do not defeat the Docker runtime's layer cache. One Manager per runtime: it
// assumes it is the only one deploying there.
package deployer
