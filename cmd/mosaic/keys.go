package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
)

func keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const keysUsage = "usage: mosaic keys create [-email E] [-name N] [-ttl D] | list [-email E] | revoke ID|PREFIX"
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return errors.New("keys needs a subcommand")
	}
	switch args[0] {
	case "create", "list", "revoke":
	default:
		fmt.Fprintln(stderr, keysUsage)
		return fmt.Errorf("unknown keys subcommand %q", args[0])
	}
	var s settings
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.flags(fs)
	email := fs.String("email", "", "account email (create: made if missing; default the first account)")
	name := fs.String("name", "cli", "create: a name for the key")
	ttl := fs.Duration("ttl", 0, "create: lifetime of the key (default the platform's, 30 days)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "revoke" && fs.NArg() != 1 {
		return errors.New("usage: mosaic keys revoke ID|PREFIX")
	}
	s.logLevel = "warn"
	p, closePlatform, err := s.platform(ctx, s.logger(stderr))
	if err != nil {
		return err
	}
	defer closePlatform()

	switch args[0] {
	case "create":
		a, err := accountFor(ctx, p, *email)
		if err != nil {
			return err
		}
		key, meta, err := p.CreateAPIKey(ctx, a.ID, *name, *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s for %s, expires %s (shown once)\n", meta.Prefix, a.Email, meta.ExpiresAt.UTC().Format(time.RFC3339))
		fmt.Fprintln(stdout, key)
		return nil
	case "list":
		account := uuid.Nil
		if *email != "" {
			a, err := p.AccountByEmail(ctx, *email)
			if err != nil {
				return err
			}
			account = a.ID
		}
		ks, err := p.APIKeys(ctx, account)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tACCOUNT\tCREATED\tEXPIRES\tSTATE")
		now := time.Now()
		for _, k := range ks {
			state := "active"
			switch {
			case k.RevokedAt != nil:
				state = "revoked"
			case !now.Before(k.ExpiresAt):
				state = "expired"
			case k.ReplacedBy != nil:
				state = "rotated"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, k.AccountID,
				k.CreatedAt.UTC().Format(time.RFC3339), k.ExpiresAt.UTC().Format(time.RFC3339), state)
		}
		return tw.Flush()
	default: // "revoke"
		k, err := p.RevokeAPIKey(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s (%s)\n", k.Prefix, k.ID)
		return nil
	}
}

// accountFor returns the account with email, making it if missing; with no
// email, the first account, made as admin@localhost if there is none.
func accountFor(ctx context.Context, p *mosaic.Platform, email string) (*mosaic.Account, error) {
	if email == "" {
		as, err := p.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		if len(as) > 0 {
			return &as[0], nil
		}
		email = "admin@localhost"
	}
	a, err := p.AccountByEmail(ctx, email)
	if errors.Is(err, mosaic.ErrNotFound) {
		return p.CreateAccount(ctx, email, "")
	}
	return a, err
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := s.logger(stderr)
	url, stopDB, err := s.database(ctx, log)
	if err != nil {
		return err
	}
	defer stopDB()
	applied, err := mosaic.Migrate(ctx, url)
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "the control database is up to date")
	}
	return nil
}
