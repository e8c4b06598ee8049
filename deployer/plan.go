package deployer

// Plan is what Detect decides for a source tree: how to build it and how to
// start it. It is data, so a runtime can turn it into a Dockerfile or into
// host commands.
type Plan struct {
	Stack Stack
	// Build are shell commands run in the source directory, in order, for
	// the process runtime (e.g. "go build -o .mosaic/app ."). Empty: none.
	Build []string
	// Start runs the app (through sh -c) from the source directory; it must
	// listen on $PORT.
	Start string
	// Dockerfile is the generated Dockerfile for the Docker runtime, given
	// the Images in force (see Dockerfile).
	Dockerfile string
	// Files lists what Detect looked at, for the build log.
	Files []string
	// Env is extra environment for the build and the app (for example
	// NODE_ENV=production), the same in every runtime.
	Env map[string]string
	// Procfile reports that Start came from a Procfile "web:" line.
	Procfile bool
	// Install is the dependency step of a Docker build when the stack has
	// one that needs only the manifests in InstallFrom (for example npm
	// install from package.json and its lock file, or go mod download from
	// go.mod and go.sum): the generated Dockerfile copies those files and
	// runs Install before it copies the rest of the source, so a redeploy
	// whose manifests did not change reuses that layer from the build
	// cache. When Install is also Build[0] the Dockerfile runs it once.
	// Empty: the stack's dependencies need the whole tree (or there are
	// none), and the Dockerfile runs Build after the copy.
	Install     string
	InstallFrom []string
	// Binary is the path, relative to the source directory, of the
	// executable that Build makes for compiled stacks (Go, Rust); "" for
	// the others.
	Binary string
}
