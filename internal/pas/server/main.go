package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/hsm"
)

// PINEnv names the environment variable that gives the PKCS#11 user PIN.
const PINEnv = "TRUCE_PAS_PKCS11_PIN"

// MainConfig is what "truce pas serve" is started with: the server's
// Config, taken as given (the command's flags supply pas's defaults, and
// limits below them are refused with a usage error, so a zero Config is
// refused), the CA key's token, where to write the address and where to
// report. A zero PKCS11.Module means the CA key is DIR/ca.key; zero
// AddrFile writes no address file; a nil Stdout discards the report.
type MainConfig struct {
	Config
	PKCS11   hsm.Config // the PKCS#11 token holding the CA key
	AddrFile string     // written with the listening address once ready
	Stdout   io.Writer  // gets what is served and, at the end, the log's head
}

// Main serves the attestation service of cfg until ctx ends, reporting on
// cfg.Stdout. Its errors carry hints (package internal/hint) for the truce
// command to print.
func Main(ctx context.Context, cfg MainConfig) error {
	out := cfg.Stdout
	if out == nil {
		out = io.Discard
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return hint.Usagef("--listen %q is not host:port: %v", cfg.Listen, err)
	}
	if cfg.RefusalDelay == 0 {
		cfg.RefusalDelay = -1
	}
	if cfg.MaxNonces < 2 || cfg.AnonymousRate <= 0 || cfg.AnonymousBurst < 1 || cfg.AnonymousTotalRate == 0 || cfg.HostRate <= 0 {
		return hint.With(hint.Usagef("--max-nonces must be at least 2, --anonymous-rate, --anonymous-burst and --host-rate positive, --anonymous-total-rate non-zero"),
			"leave them out for the defaults; give --anonymous-total-rate -1 to serve authenticated hosts only")
	}
	key, err := OpenCAKey(cfg.PKCS11, false)
	if err != nil {
		return err
	}
	if key != nil {
		defer key.Close()
		cfg.CAKey = key
	}
	dir, database := cfg.Dir, cfg.Database
	srv, err := New(cfg.Config)
	switch {
	case errors.Is(err, pas.ErrNotInitialised):
		return hint.With(err, "run \"truce pas init --dir %s\" first", dir)
	case errors.Is(err, pas.ErrLogTampered):
		return hint.With(err, "the issuance log was changed: run \"truce pas log --dir %s\" and restore %s from a backup", dir, LogName(dir, database))
	case errors.Is(err, ErrListen):
		return hint.With(err, "pick another --listen address, or stop what uses it")
	case err != nil && strings.Contains(err.Error(), pas.HostsFile):
		return hint.With(fmt.Errorf("opening the attestation service: %w", err), "fix %s (truce pas host add writes it)", filepath.Join(dir, pas.HostsFile))
	case err != nil && database != "":
		return hint.With(fmt.Errorf("opening the attestation service: %w", err), "check that the PostgreSQL database is reachable and the URL is right, and the files in %s", dir)
	case err != nil:
		return hint.With(fmt.Errorf("opening the attestation service: %w", err), "check the files in %s (truce pas init made them)", dir)
	}
	defer srv.Close()
	fmt.Fprintf(out, "CA certificate: %s\nURL: https://%s\n", filepath.Join(dir, pas.CACertFile), srv.Addr())
	if cfg.AllowSim {
		fmt.Fprintf(out, "accepting the SIMULATED platform (not hardware-backed)\n")
	}
	if hosts, err := pas.LoadHosts(dir); err == nil {
		fmt.Fprintf(out, "authenticated hosts: %d (%s)\n", len(hosts), filepath.Join(dir, pas.HostsFile))
	}
	if cfg.AddrFile != "" {
		if err := atomicfile.Write(cfg.AddrFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing --addr-file: %w", err)
		}
	}
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	n, head := srv.Service().Log().Head()
	fmt.Fprintf(out, "stopped; log has %d entries, head %s\n", n, hex.EncodeToString(head[:]))
	return nil
}

// OpenCAKey opens (or, with generate, makes) the CA key in the PKCS#11
// token c names; nil, and no error, for a zero c.Module (the CA key is
// then DIR/ca.key).
func OpenCAKey(c hsm.Config, generate bool) (*hsm.Key, error) {
	if c.Module == "" {
		return nil, nil
	}
	if c.Token == "" {
		return nil, hint.With(hint.Usagef("--ca-pkcs11 needs --ca-pkcs11-token"), "give the label of the token holding the CA key")
	}
	open := hsm.Open
	if generate {
		open = hsm.Generate
	}
	k, err := open(c)
	if err != nil {
		return nil, hint.With(err, "check the module path, the token label, the key label and $%s", PINEnv)
	}
	return k, nil
}

// LogName names where the issuance log of dir (or database) is kept, for
// hints; it never shows the database URL, which may hold a password.
func LogName(dir, database string) string {
	if database == "" {
		return filepath.Join(dir, pas.LogFile)
	}
	return "the PostgreSQL database"
}
