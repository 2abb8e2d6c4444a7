package evidence

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/clientconf"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/policyspec"
)

// VerifierFor is Verifier with what to do attached: noKey is the error
// for platform sim without a device public key, unsupported the hint for
// a platform this build cannot check.
func VerifierFor(platform, simDevicePub string, noKey error, unsupported string) (attest.Verifier, error) {
	v, err := Verifier(platform, simDevicePub)
	switch {
	case errors.Is(err, ErrNoDeviceKey):
		return nil, hint.With(noKey, "give --device-pub FILE (truce pas init wrote device.pub) or set $TRUCE_SIM_DEVICE_PUB")
	case errors.Is(err, attest.ErrUnsupportedPlatform):
		return nil, hint.With(err, "%s", unsupported)
	case err != nil:
		return nil, hint.With(err, "give the device.pub that truce pas init wrote")
	}
	return v, nil
}

// ReadFile reads raw evidence, or hex or base64 text of it (Decode).
func ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, hint.With(fmt.Errorf("reading evidence: %w", err), "give the evidence file")
	}
	return Decode(b), nil
}

// VerifyFile checks the evidence in file with v as of opts, bound to
// nonce if it is not nil, writes its claims to w and, with a policyFile,
// applies that policy's rules on runtimes and writes their steps. Its
// errors carry hints (package internal/hint).
func VerifyFile(w io.Writer, file string, v attest.Verifier, opts attest.VerifyOptions, nonce []byte, policyFile string) error {
	ev, err := ReadFile(file)
	if err != nil {
		return err
	}
	c, err := Check(ev, v, opts, nonce)
	switch {
	case errors.Is(err, attest.ErrBadEvidence):
		return hint.With(err, "the evidence was altered, truncated, or signed by another device than the one given")
	case errors.Is(err, attest.ErrBinding):
		return hint.With(err, "the evidence was made for another key, policy or nonce")
	case err != nil:
		return err
	}
	WriteClaims(w, c, opts.Time())
	if policyFile == "" {
		return nil
	}
	pol, err := policyspec.Load(policyFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "policy %q (%s):\n", pol.Name, pol.HashHex())
	steps := attest.CheckRuntime(pol, attest.RuntimeOf(c), opts.Time())
	WriteSteps(w, steps)
	if err := attest.Refusal(steps); err != nil {
		return clientconf.Advise(fmt.Errorf("the policy refuses this evidence: %w", err))
	}
	return nil
}
