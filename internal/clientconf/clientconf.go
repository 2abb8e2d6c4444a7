// Package clientconf opens a verified client session (package client)
// from what a person gives the truce command: the policy file, their
// certificate and key (or $TRUCE_POLICY, $TRUCE_IDENTITY, $TRUCE_KEY), the
// host address, and the known-enclaves record that notices a restarted
// enclave. It also turns the client SDK's errors into advice (Advise), and
// holds the steps the client commands share (steps.go: upload, download,
// the checked audit log, a receipt saved).
//
// It holds no state of its own and must never be imported by the host,
// the runtime or the attestation service; it writes nothing but the
// known-enclaves record, warnings to Config.Warn, and what a step is told
// to write (the files it names and its Streams).
package clientconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// Config names the enclave to talk to and who talks. The zero value reads
// the files from the environment (Complete) and keeps the default
// known-enclaves record.
type Config struct {
	// Policy, Cert and Key are the policy file and the person's
	// certificate and key files; empty ones are taken from $TRUCE_POLICY,
	// $TRUCE_IDENTITY and $TRUCE_KEY.
	Policy, Cert, Key string
	// Addr, if set, is dialled instead of the policy's host.
	Addr string
	// Known is the known-enclaves record file: "" means the default
	// (client.DefaultKnownEnclavesPath), "off" none.
	Known string
	// RefuseNew makes meeting another enclave instance than last time an
	// error, before any data is sent; otherwise it is a warning.
	RefuseNew bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Warn receives warnings ("truce: WARNING: …" and a hint line); nil
	// discards them.
	Warn io.Writer
}

func (c *Config) getenv(k string) string {
	if c.Getenv == nil {
		return os.Getenv(k)
	}
	return c.Getenv(k)
}

func (c *Config) warn() io.Writer {
	if c.Warn == nil {
		return io.Discard
	}
	return c.Warn
}

// Complete fills the files left empty from the environment; a file given
// neither way is a *hint.UsageError naming its flag.
func (c *Config) Complete() error {
	for _, f := range []struct {
		v    *string
		env  string
		flag string
	}{{&c.Policy, "TRUCE_POLICY", "--policy"}, {&c.Cert, "TRUCE_IDENTITY", "--identity"}, {&c.Key, "TRUCE_KEY", "--key"}} {
		if *f.v == "" {
			*f.v = c.getenv(f.env)
		}
		if *f.v == "" {
			return hint.Usagef("%s is required (or set $%s)", f.flag, f.env)
		}
	}
	return nil
}

// Options are the dial options of c: the known-enclaves check (a new
// instance is a warning, or with RefuseNew an error) and Addr.
func (c *Config) Options() []client.Option {
	var opts []client.Option
	if c.Addr != "" {
		opts = append(opts, client.WithAddr(c.Addr))
	}
	path := c.Known
	if path == "" {
		path = client.DefaultKnownEnclavesPath(c.getenv)
	}
	if path == "" || path == "off" {
		return opts
	}
	// A record that cannot be kept (no writable home) must not stop the
	// command: it warns, and the command runs without it.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		fmt.Fprintf(c.warn(), "truce: warning: no known-enclaves record, so a restarted enclave goes unnoticed: %v\nhint: give --known-enclaves FILE, or $%s=off to keep none\n", err, client.KnownEnclavesEnv)
		return opts
	}
	k := &client.KnownEnclaves{Path: path}
	return append([]client.Option{client.WithKnownEnclaves(k, func(ch *client.EnclaveChangedError) error {
		if c.RefuseNew {
			return hint.With(ch, "%s; to accept it, run again without --refuse-new-enclave", client.Hint(ch))
		}
		fmt.Fprintf(c.warn(), "truce: WARNING: %v\nhint: %s (recorded in %s; this warning is not repeated for this instance)\n", ch, client.Hint(ch), path)
		return nil
	})}, opts...)
}

// Identity loads the person's certificate and key.
func (c *Config) Identity() (*identity.Identity, error) {
	id, err := identity.Load(c.Cert, c.Key)
	if err != nil {
		return nil, hint.With(fmt.Errorf("loading your identity: %w", err), "give your certificate with --identity and its key with --key (truce identity new NAME makes them)")
	}
	return id, nil
}

// Dial completes c, loads the policy and the identity, and opens a
// session with the enclave, verified as client.Dial verifies it.
func Dial(ctx context.Context, c *Config) (*client.Session, *policy.Policy, error) {
	if err := c.Complete(); err != nil {
		return nil, nil, err
	}
	pol, err := policyspec.Load(c.Policy)
	if err != nil {
		return nil, nil, err
	}
	id, err := c.Identity()
	if err != nil {
		return nil, nil, err
	}
	s, err := client.Dial(ctx, pol, id, c.Options()...)
	if err != nil {
		return nil, nil, Advise(err)
	}
	return s, pol, nil
}

// Advise attaches what to do to an error of the client SDK: the hint of
// an attestation verdict, the client's own hint, or what a refused
// enclave certificate means. Other errors are returned as they are.
func Advise(err error) error {
	var v *attest.Verdict
	if errors.As(err, &v) && v.Hint != "" {
		return hint.With(err, "%s", v.Hint)
	}
	if h := client.Hint(err); h != "" {
		return hint.With(err, "%s", h)
	}
	switch {
	case errors.Is(err, attest.ErrUntrustedMeasurement):
		return hint.With(err, "the enclave runs a runtime build the policy does not pin: nothing was sent; check the measurement with \"truce measure\" and the policy")
	case errors.Is(err, attest.ErrPolicyMismatch):
		return hint.With(err, "the enclave was attested for another policy: nothing was sent; check you have the policy the host serves")
	case errors.Is(err, attest.ErrBadChain):
		return hint.With(err, "the enclave's certificate does not chain to the policy's attestation CA or has expired: nothing was sent")
	case errors.Is(err, attest.ErrSimulated):
		return hint.With(err, "the enclave is simulated and the policy does not allow sim: nothing was sent")
	}
	return err
}
