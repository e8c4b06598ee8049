// Package localsvc starts real service processes from binaries installed on
// the local machine, for the embedded server (mosaic serve without a database
// URL) and for the test harness.
//
// Each service runs as a direct child process in its own process group, bound
// to 127.0.0.1 on a free (or given) port, with its state in a directory the
// caller chooses so that a later start on the same directory reuses the data.
// The child is asked to exit if this process dies (Linux parent-death
// signal), and Stop shuts it down cleanly, killing it if the context expires.
//
// Some servers (PostgreSQL's initdb and postgres) refuse to run as root. When
// this process is root, such servers run as an unprivileged OS user (for
// PostgreSQL, the "postgres" user that Debian's package creates) and the state
// directory is handed to that user; the caller must make sure that user can
// reach the directory (every ancestor searchable).
//
// Nothing here keeps global state: every value needed lives in the returned
// handle.
package localsvc
