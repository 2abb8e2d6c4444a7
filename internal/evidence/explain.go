package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/clientconf"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// Explain prints the whole chain of an enclave's attestation,
// evidence → verifier → certificate → client check, one ✓ or ✗ line per
// step, and returns the first refusal (a *attest.Verdict), if any.
//
// The certificate is fetched first, with a handshake abandoned before
// anything is sent (client.PeerChain), and checked as every client command
// checks it. Only if that passes does it connect as a principal and fetch
// the evidence, which it checks itself with the platform's verifier when
// one is at hand: verifier returns it for the enclave's platform, or an
// error that says why not, printed as a note.
func Explain(ctx context.Context, w io.Writer, cf *clientconf.Config, verifier func(platform string) (attest.Verifier, error)) error {
	if err := cf.Complete(); err != nil {
		return err
	}
	pol, err := policyspec.Load(cf.Policy)
	if err != nil {
		return err
	}
	var opts []client.Option
	if cf.Addr != "" {
		opts = append(opts, client.WithAddr(cf.Addr))
	}
	addr := cf.Addr
	if addr == "" {
		addr = pol.Host
	}
	now := time.Now()
	fmt.Fprintf(w, "Attestation of the enclave at %s for policy %q (%s), checked at %s:\n", addr, pol.Name, pol.HashHex(), now.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "evidence → verifier → certificate → client check\n")

	chain, err := client.PeerChain(ctx, pol, opts...)
	if err != nil {
		return hint.With(err, "no enclave answered with a certificate: check that \"truce host serve\" runs for this policy; its log says why the attestation service refused the enclave's evidence, if it did (claim, expected and actual value)")
	}
	certSteps, id := attest.ExplainEnclave(chain, pol, now)
	certErr := attest.Refusal(certSteps)

	var evSteps []attest.Step
	var evNote string
	var fetchErr error
	if certErr != nil {
		evNote = "not fetched: the enclave failed the client check below, so nothing was sent to it (the evidence is served only to principals)"
	} else if evSteps, evNote, fetchErr = fetchEvidence(ctx, cf, pol, verifier, id.Platform); fetchErr != nil {
		evNote = "not fetched: " + fetchErr.Error()
	}

	fmt.Fprintf(w, "\n1. evidence and 2. verifier (the enclave's own evidence, checked here as the attestation service checks it)\n")
	if evNote != "" {
		fmt.Fprintf(w, "   – %s\n", evNote)
	}
	WriteSteps(w, evSteps)

	fmt.Fprintf(w, "\n3. certificate (issued by the attestation service for the enclave key)\n")
	WriteCertificate(w, chain)

	fmt.Fprintf(w, "\n4. client check (this policy's rules, applied to the certificate)\n")
	WriteSteps(w, certSteps)

	if certErr != nil {
		return clientconf.Advise(fmt.Errorf("the enclave is not one the policy trusts; nothing was sent: %w", certErr))
	}
	if fetchErr != nil {
		return fetchErr
	}
	if err := attest.Refusal(evSteps); err != nil {
		return clientconf.Advise(fmt.Errorf("the enclave's evidence: %w", err))
	}
	fmt.Fprintf(w, "\nThe enclave is trusted by this policy.\n")
	return nil
}

// fetchEvidence connects as a principal and checks the enclave's evidence;
// note says why it was not checked, if it was not.
func fetchEvidence(ctx context.Context, cf *clientconf.Config, pol *policy.Policy, verifier func(string) (attest.Verifier, error), platform string) (steps []attest.Step, note string, err error) {
	v, verr := verifier(platform)
	if verr != nil {
		var he *hint.Error
		msg := verr.Error()
		if errors.As(verr, &he) {
			msg += " (" + he.Hint + ")"
		}
		return nil, "not checked here: " + msg + "; the attestation service checked it before issuing the certificate", nil
	}
	id, err := cf.Identity()
	if err != nil {
		return nil, "", err
	}
	s, err := client.Dial(ctx, pol, id, cf.Options()...)
	if err != nil {
		return nil, "", clientconf.Advise(err)
	}
	defer s.Close()
	steps, _, err = s.ExplainEvidence(ctx, v)
	if err != nil {
		return nil, "", clientconf.Advise(fmt.Errorf("fetching the enclave's evidence: %w", err))
	}
	return steps, "", nil
}
