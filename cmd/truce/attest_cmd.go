package main

import (
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/evidence"
	"github.com/truce-project/truce/internal/textreport"
)

// attestCommands are the commands of attest_cmd.go.
func attestCommands() (cs []*command) {
	var cf clientFlags
	var caBundle, devicePub, pinFile string
	var withEvidence, explain bool
	cs = append(cs, &command{
		Name:    "attest",
		Args:    "[flags]",
		Summary: "check the enclave and print what was verified",
		Help:    helpText("attest"),
		Flags: func(fs *flag.FlagSet) {
			cf.declare(fs)
			fs.StringVar(&caBundle, "ca-bundle", "", "write the attestation service CA certificate to `file`, and print the curl command with this enclave's --pinnedpubkey")
			fs.StringVar(&pinFile, "pin", "", "write this enclave's curl --pinnedpubkey value (sha256//…) to `file`")
			fs.BoolVar(&withEvidence, "evidence", false, "also check the enclave's own evidence, without relying on the attestation service")
			fs.BoolVar(&explain, "explain", false, "print every step of the attestation (evidence, verifier, certificate, client check) with ✓ or ✗")
			fs.StringVar(&devicePub, "device-pub", "", "simulated device public key `file` for --evidence on sim (default $TRUCE_SIM_DEVICE_PUB)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if explain {
				if withEvidence || caBundle != "" || pinFile != "" {
					return usagef("--explain goes alone: it already checks the evidence where it can")
				}
				return evidence.Explain(e.Ctx, e.Stdout, cf.conf(e), func(p string) (attest.Verifier, error) { return evidenceVerifier(e, p, devicePub) })
			}
			s, pol, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			id, chain := s.Enclave()
			if id == nil || len(chain) == 0 {
				return fmt.Errorf("no verified enclave certificate")
			}
			pin := textreport.Enclave(e.Stdout, pol, id, chain[0])
			if withEvidence {
				v, err := evidenceVerifier(e, id.Platform, devicePub)
				if err != nil {
					return err
				}
				claims, err := s.VerifyEvidence(e.Ctx, v)
				if err != nil {
					return clientError(fmt.Errorf("checking the enclave's evidence: %w", err))
				}
				fmt.Fprintf(e.Stdout, "  evidence:     %s evidence verified directly: measurement %s, bound to this certificate's key, the policy and the nonce\n", claims.Platform, hex.EncodeToString(claims.Measurement))
			}
			if pinFile != "" {
				if err := atomicfile.Write(pinFile, []byte(pin+"\n"), 0o644); err != nil {
					return withHint(fmt.Errorf("writing the pin: %w", err), "choose a writable --pin file")
				}
				fmt.Fprintf(e.Stdout, "pin of this enclave's key written to %s\n", pinFile)
			}
			if caBundle != "" {
				b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pol.CACertificate().Raw})
				if err := atomicfile.Write(caBundle, b, 0o644); err != nil {
					return withHint(fmt.Errorf("writing the CA bundle: %w", err), "choose a writable --ca-bundle file")
				}
				fmt.Fprintf(e.Stdout, "CA certificate written to %s; talk to this enclave, and no other, with:\n  curl --cacert %s --pinnedpubkey %s --cert CERT --key KEY https://%s/v1/policy\n", caBundle, caBundle, pin, pol.Host)
				fmt.Fprintf(e.Stdout, "without --pinnedpubkey curl trusts any enclave the attestation service certified, for any policy; with it, only this enclave key (run truce attest again after the enclave restarts)\n")
			}
			return nil
		},
	})
	return cs
}

// evidenceVerifier is the verifier of the enclave's own evidence, for
// "truce attest --evidence" and "--explain".
func evidenceVerifier(e *env, platform, devicePub string) (attest.Verifier, error) {
	return verifier(e, platform, devicePub, usagef("--evidence on sim needs the device public key"),
		"this truce cannot check "+platform+" evidence itself; drop --evidence to rely on the attestation service")
}

// verifier returns the verifier of platform's evidence (evidence.Verifier),
// with the simulated device's public key from devicePub or
// $TRUCE_SIM_DEVICE_PUB. noKey is the error for sim without a key;
// unsupported the hint for a platform this build cannot check.
func verifier(e *env, platform, devicePub string, noKey error, unsupported string) (attest.Verifier, error) {
	if devicePub == "" {
		devicePub = e.Getenv("TRUCE_SIM_DEVICE_PUB")
	}
	return evidence.VerifierFor(platform, devicePub, noKey, unsupported)
}
