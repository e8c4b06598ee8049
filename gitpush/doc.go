// Package gitpush hosts the git repositories of Mosaic projects: one bare
// repository per project on the local disk, served to real git clients over
// smart HTTP, written to by the API one file per commit, and read by the
// deployer as a tar archive.
//
// # Contract
//
// Repos is the storage contract (Create, Delete, PutFile, Archive) and Server
// the client-facing one (an http.Handler, CloneURL, OnPush). Local implements
// both with the git binary; a Gitea-backed implementation could replace it.
//
// # Serving git
//
// Local is an http.Handler for the smart HTTP protocol. Mount it under a
// prefix:
//
//	mux.Handle("/git/", http.StripPrefix("/git", local))
//
// and clone with git clone https://host/git/<project>.git. It runs
// git upload-pack and git receive-pack with --stateless-rpc itself and
// streams request and response bodies, so chunked and gzip-encoded request
// bodies work (net/http/cgi with git http-backend rejects chunked bodies,
// which git sends for packs over 1 MiB). Every request is authenticated
// with HTTP basic auth through Config.Authorize; dumb HTTP is not served.
//
// # Writing files
//
// PutFile commits one file without a work tree, using git plumbing and a
// compare-and-swap on the branch (git update-ref <ref> <new> <old>), so it
// never loses a commit that a concurrent git push made, and concurrent
// PutFile calls on one project all land, one commit each.
//
// # Push events
//
// Each repository has a post-receive hook that appends git's
// "<old> <new> <ref>" lines to a file named by the MOSAIC_PUSH_REPORT
// variable, which the HTTP handler sets for that one receive-pack run and
// reads when git exits. So each push that updates refs yields exactly one
// PushEvent, with every ref it changed; each PutFile yields one too.
// Subscribers (OnPush) run asynchronously and in order, and a panic in one
// is recovered. The subpackage webhook delivers these events to registered
// URLs, signed with HMAC-SHA256.
//
// # Layout on disk
//
//	Dir/<project>.git   bare repository, HEAD -> refs/heads/main
//	Dir/.tmp/           scratch: repositories being created or deleted,
//	                    temporary index files, push reports
//
// Git runs without system or user configuration (GIT_CONFIG_NOSYSTEM,
// GIT_CONFIG_GLOBAL=/dev/null). Repositories have receive.fsckObjects on, so
// a push of malformed objects (including trees with a .git entry) is refused.
package gitpush
