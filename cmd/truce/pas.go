package main

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/hsm"
	"github.com/truce-project/truce/internal/pas/issuance"
	"github.com/truce-project/truce/internal/pas/server"
)

// pasCommands are the commands of pas.go.
func pasCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "pas init",
		Args:    "--dir DIR",
		Summary: "create an attestation service: its CA and the simulated device key",
		Help:    helpText("pas init"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("dir", "", "service `directory` to create")
			pkcs11Flags(fs)
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			dir, err := pasDir(fs)
			if err != nil {
				return err
			}
			key, err := server.OpenCAKey(pkcs11Config(e, fs), true)
			if err != nil {
				return err
			}
			if key != nil {
				defer key.Close()
			}
			if err := pas.InitWithKey(dir, rand.Reader, time.Now(), signerOf(key)); err != nil {
				if errors.Is(err, pas.ErrExists) {
					return withHint(err, "use another --dir, or \"truce pas serve --dir %s\" to run the existing service", dir)
				}
				return fmt.Errorf("creating the attestation service: %w", err)
			}
			fmt.Fprintf(e.Stdout, "created attestation service in %s\nCA certificate: %s\nsimulated device key: %s\n",
				dir, filepath.Join(dir, pas.CACertFile), filepath.Join(dir, pas.DeviceKeyFile))
			return nil
		},
	})
	cs = append(cs, &command{
		Name:    "pas serve",
		Args:    "--dir DIR [--listen ADDR] [--allow-sim] [flags]",
		Summary: "run the attestation service over HTTPS until interrupted",
		Help:    helpText("pas serve"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("dir", "", "service `directory` (made by truce pas init)")
			fs.String("listen", "127.0.0.1:3010", "`address` to listen on (host:port; port 0 picks a free one)")
			fs.Bool("allow-sim", false, "accept evidence of the simulated platform (never in production)")
			fs.String("host", "", "extra comma-separated host `names` or IPs for the service's TLS certificate")
			fs.Duration("cert-lifetime", pas.DefaultCertLifetime, "validity of issued enclave certificates (capped by the policy's expiry)")
			fs.Duration("nonce-lifetime", pas.DefaultNonceLifetime, "how long a nonce may be used")
			fs.Int("max-nonces", pas.DefaultMaxNonces, "most `nonces` outstanding; half are kept for authenticated hosts")
			fs.Float64("anonymous-rate", pas.DefaultAnonymousRate, "nonces a second one anonymous address gets (`rate`)")
			fs.Int("anonymous-burst", pas.DefaultAnonymousBurst, "nonces one anonymous address gets at once (`count`)")
			fs.Float64("anonymous-total-rate", pas.DefaultAnonymousTotalRate, "nonces a second all anonymous callers together get (`rate`; negative: none)")
			fs.Float64("host-rate", pas.DefaultHostRate, "nonces a second one authenticated host gets (`rate`)")
			fs.Duration("refusal-delay", pas.DefaultRefusalDelay, "hold refusals of anonymous callers this `long` before answering (negative: never)")
			fs.String("addr-file", "", "write the listening address to this `file` once ready (for scripts)")
			databaseFlag(fs)
			fs.Bool("fetch-collateral", false, "fetch SEV-SNP VCEKs from AMD's KDS and TDX/SGX collateral from Intel's PCS when evidence lacks them, cached in the store")
			pkcs11Flags(fs)
		},
		Run: runPASServe,
	})
	cs = append(cs, &command{
		Name:    "pas log",
		Args:    "--dir DIR [--verify] [--policy HASH | --instances]",
		Summary: "print and verify the attestation service's issuance log",
		Help:    helpText("pas log"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("dir", "", "service `directory`")
			fs.Bool("verify", false, "print only the summary")
			fs.String("policy", "", "list the enclave instances certified for the policy with this `hash` (or hex prefix of at least 8 digits)")
			fs.Bool("instances", false, "list the enclave instances of every policy")
			databaseFlag(fs)
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			dir, err := pasDir(fs)
			if err != nil {
				return err
			}
			quiet := fs.Lookup("verify").Value.(flag.Getter).Get().(bool)
			database, err := pasDatabase(e, fs)
			if err != nil {
				return err
			}
			prefix := strings.ToLower(fs.Lookup("policy").Value.String())
			if all := fs.Lookup("instances").Value.(flag.Getter).Get().(bool); all || prefix != "" {
				if all && prefix != "" || quiet {
					return usagef("--policy, --instances and --verify go alone")
				}
				return pasLogError(issuance.WriteInstances(e.Ctx, e.Stdout, dir, database, prefix), dir, database)
			}
			n, head, err := issuance.WriteLog(e.Ctx, e.Stdout, dir, database, quiet)
			if err != nil {
				return pasLogError(err, dir, database)
			}
			fmt.Fprintf(e.Stdout, "log verifies: %d entries, head %s\n", n, hex.EncodeToString(head[:]))
			return nil
		},
	})
	return cs
}

// pasLogError says what to do about an error reading the issuance log.
func pasLogError(err error, dir, database string) error {
	switch {
	case errors.Is(err, pas.ErrLogTampered):
		return withHint(err, "the log was changed after it was written: restore %s from a backup and investigate", server.LogName(dir, database))
	case errors.Is(err, pas.ErrNotInitialised):
		return withHint(err, "give the --dir of \"truce pas init\"")
	}
	return err
}

// pasHostCommands are the commands of pas.go.
func pasHostCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "pas host add",
		Args:    "--dir DIR [-o FILE] NAME",
		Summary: "make a credential for a host of the attestation service",
		Help:    helpText("pas host add"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("dir", "", "service `directory`")
			fs.String("o", "", "`file` to write the credential to (default NAME.credential)")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return withHint(usagef("give one host NAME"), "such as: truce pas host add --dir pas host-1")
			}
			dir, err := pasDir(fs)
			if err != nil {
				return err
			}
			out := fs.Lookup("o").Value.String()
			if out == "" {
				out = args[0] + ".credential"
			}
			if _, err := os.Lstat(out); err == nil {
				return withHint(fmt.Errorf("%s exists", out), "choose another -o FILE, or remove it first")
			}
			cred, err := pas.AddHost(dir, args[0], rand.Reader, time.Now())
			if errors.Is(err, pas.ErrHostExists) {
				return withHint(err, "choose another NAME")
			}
			if errors.Is(err, pas.ErrNotInitialised) {
				return withHint(err, "give the --dir of \"truce pas init\"")
			}
			if err != nil {
				return err
			}
			if err := atomicfile.WriteNew(out, []byte(cred+"\n"), 0o600); err != nil {
				return withHint(fmt.Errorf("writing the credential (the host was added to %s): %w", filepath.Join(dir, pas.HostsFile), err),
					"remove host %q from %s and add it again with a writable -o FILE", args[0], filepath.Join(dir, pas.HostsFile))
			}
			fmt.Fprintf(e.Stdout, "host %q added to %s\ncredential written to %s: give it to the host (truce host serve --pas-credential %s) and restart truce pas serve\n",
				args[0], filepath.Join(dir, pas.HostsFile), out, out)
			return nil
		},
	})
	return cs
}

func pasDir(fs *flag.FlagSet) (string, error) {
	dir := fs.Lookup("dir").Value.String()
	if dir == "" {
		return "", withHint(usagef("--dir is required"), "give the attestation service directory, such as --dir pas")
	}
	return dir, nil
}

func pkcs11Flags(fs *flag.FlagSet) {
	fs.String("ca-pkcs11", "", "PKCS#11 `module` holding the CA key (instead of DIR/ca.key); PIN from $"+server.PINEnv)
	fs.String("ca-pkcs11-token", "", "`label` of the PKCS#11 token")
	fs.String("ca-pkcs11-key", "truce-pas-ca", "`label` of the CA key in the token")
}

// pkcs11Config is the token the --ca-pkcs11 flags name.
func pkcs11Config(e *env, fs *flag.FlagSet) hsm.Config {
	return hsm.Config{Module: fs.Lookup("ca-pkcs11").Value.String(), Token: fs.Lookup("ca-pkcs11-token").Value.String(),
		Key: fs.Lookup("ca-pkcs11-key").Value.String(), PIN: e.Getenv(server.PINEnv)}
}

// signerOf is k as a crypto.Signer, nil for a nil k.
func signerOf(k *hsm.Key) crypto.Signer {
	if k == nil {
		return nil
	}
	return k
}

// databaseEnv names the environment variable that gives --database.
const databaseEnv = "TRUCE_PAS_DATABASE"

func databaseFlag(fs *flag.FlagSet) {
	fs.String("database", "", "PostgreSQL `URL` (postgres://…) for the log and nonces shared by replicas; default $"+databaseEnv+", else DIR/log.db")
}

// pasDatabase returns --database, or the environment's.
func pasDatabase(e *env, fs *flag.FlagSet) (string, error) {
	d := fs.Lookup("database").Value.String()
	if d == "" {
		d = e.Getenv(databaseEnv)
	}
	if d != "" && !pas.IsPostgres(d) {
		return "", withHint(usagef("--database must be a postgres:// URL"), "give postgres://USER@HOST:PORT/DB, or leave it out to use DIR/log.db")
	}
	return d, nil
}

func runPASServe(e *env, fs *flag.FlagSet, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	dir, err := pasDir(fs)
	if err != nil {
		return err
	}
	database, err := pasDatabase(e, fs)
	if err != nil {
		return err
	}
	get := func(n string) any { return fs.Lookup(n).Value.(flag.Getter).Get() }
	return server.Main(e.Ctx, server.MainConfig{Config: server.Config{Config: pas.Config{
		Dir: dir, AllowSim: get("allow-sim").(bool), Logger: slog.New(slog.NewTextHandler(e.Stderr, nil)), Database: database,
		CertLifetime: get("cert-lifetime").(time.Duration), NonceLifetime: get("nonce-lifetime").(time.Duration),
		MaxNonces: get("max-nonces").(int), AnonymousRate: get("anonymous-rate").(float64), AnonymousBurst: get("anonymous-burst").(int),
		AnonymousTotalRate: get("anonymous-total-rate").(float64), HostRate: get("host-rate").(float64),
		RefusalDelay: get("refusal-delay").(time.Duration),
	}, Listen: get("listen").(string), Names: strings.Split(get("host").(string), ","), FetchCollateral: get("fetch-collateral").(bool)},
		PKCS11: pkcs11Config(e, fs), AddrFile: get("addr-file").(string), Stdout: e.Stdout})
}
