package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/cli"
)

// identityCommands are the commands of identity.go.
func identityCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "identity new",
		Args:    "NAME [--dir DIR] [--valid-for DURATION]",
		Summary: "make a party's key and certificate (NAME.crt, NAME.key)",
		Help:    helpText("identity new"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("dir", ".", "`directory` to write NAME.crt and NAME.key into")
			fs.Duration("valid-for", identity.DefaultValidity, "how long the certificate is valid (a Go `duration`, e.g. 2160h)")
		},
		Run: runIdentityNew,
	})
	return cs
}

func runIdentityNew(e *env, fs *flag.FlagSet, args []string) error {
	args, err := cli.Interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("identity new takes one NAME, got %d arguments", len(args))
	}
	name := args[0]
	dir := fs.Lookup("dir").Value.String()
	validFor := fs.Lookup("valid-for").Value.(flag.Getter).Get().(time.Duration)
	if validFor <= 0 {
		return usagef("--valid-for %v: give a positive duration such as 8760h", validFor)
	}
	if !identity.ValidName(name) {
		return usagef("%q is not a valid identity name: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return withHint(fmt.Errorf("directory %s does not exist", dir), "create it first (mkdir %s), or pick another --dir", dir)
	}
	id, err := identity.New(name, validFor, time.Now(), nil)
	if err != nil {
		return fmt.Errorf("making identity %s: %w", name, err)
	}
	certPath, keyPath, err := id.Write(dir)
	if errors.Is(err, identity.ErrExists) {
		return withHint(err, "an identity called %s exists in %s: pick another name or --dir; nothing was written", name, dir)
	}
	if err != nil {
		return fmt.Errorf("writing identity %s: %w", name, err)
	}
	fp := sha256.Sum256(id.Cert.Raw)
	fmt.Fprintf(e.Stdout, "certificate: %s (share it)\nprivate key: %s (keep it secret)\nvalid until: %s\nSHA-256 fingerprint: %x\n",
		certPath, keyPath, id.Cert.NotAfter.UTC().Format(time.RFC3339), fp)
	return nil
}
