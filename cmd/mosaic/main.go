// Command mosaic runs the Mosaic platform as a server and manages it.
//
//	mosaic serve                     run the API (embedded PostgreSQL when MOSAIC_DATABASE_URL is unset)
//	mosaic keys create [-email E]    make an API key (printed once)
//	mosaic keys list                 list API keys (prefixes, never the keys)
//	mosaic keys revoke ID|PREFIX     revoke a key
//	mosaic migrate                   apply control-plane migrations and exit
//
// Configuration comes from flags and environment variables; see -h of each
// command and the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mosaic:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: mosaic <command> [flags]

commands:
  serve                 run the platform's HTTP API
  keys create|list|revoke
                        manage API keys
  migrate               apply control-plane migrations and exit

Run "mosaic <command> -h" for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "keys":
		return keys(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
