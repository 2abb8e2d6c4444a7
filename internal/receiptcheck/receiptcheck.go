// Package receiptcheck is "truce receipt verify" past its flags: it checks
// a run's receipt against the policy the run was under (signature,
// enclave certificate, policy) as of a time, prints what it says, and
// checks that it names given local files as its inputs or outputs under
// the salts the enclave answered.
//
// It only reads: it must never write a file, and never import the
// runtime, the host or the attestation service. Its errors carry hints
// (package internal/hint) for the truce command to print.
package receiptcheck

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/textreport"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// MaxFile bounds the receipt file read (a run result may carry up to
// 1 MiB of stdout and of stderr, base64-encoded).
const MaxFile = 16 << 20

// Opening is one --input or --output of receipt verify: a file of the
// receipt, the salt the enclave gave for its version, and the local copy
// of its bytes.
type Opening struct {
	Path, Salt, File string
}

// Openings is a repeatable flag of GUESTPATH=SALT:LOCALFILE.
type Openings []Opening

// String is empty: the flag has no default.
func (o *Openings) String() string { return "" }

// Set adds one GUESTPATH=SALT:LOCALFILE.
func (o *Openings) Set(v string) error {
	path, rest, ok := strings.Cut(v, "=")
	salt, file, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || path == "" || salt == "" || file == "" {
		return fmt.Errorf("%q: give GUESTPATH=SALT:LOCALFILE, with the salt the enclave answered to your write or read", v)
	}
	*o = append(*o, Opening{path, salt, file})
	return nil
}

// Check is one receipt check: the receipt file's name (for messages) and
// how to read at most MaxFile+1 of its bytes, the policy file, the time to
// verify at, and the inputs and outputs to check.
type Check struct {
	Name, PolicyFile string
	Read             func() ([]byte, error)
	At               time.Time
	Inputs, Outputs  Openings
}

// Verify checks c and writes what the receipt says, and each opening
// checked, to w.
func Verify(w io.Writer, c Check) error {
	pdata, err := os.ReadFile(c.PolicyFile)
	if err != nil {
		return hint.With(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy")
	}
	raw, err := c.Read()
	if err != nil {
		return err
	}
	if len(raw) > MaxFile {
		return fmt.Errorf("receipt file larger than %d bytes", MaxFile)
	}
	r, err := receipt.Decode(raw)
	if err != nil {
		return hint.With(fmt.Errorf("%s: %w", c.Name, err), "give the JSON the enclave returned for a run")
	}
	// A policy that has expired since still verifies the receipts
	// made while it held: parse it as of the receipt's end.
	pol, err := policy.Decode(pdata)
	if err == nil {
		err = pol.ValidAt(r.Finished)
	}
	if err != nil {
		return hint.With(fmt.Errorf("policy %s: %w", c.PolicyFile, err), "give the policy the run was under")
	}
	if err := receipt.Verify(r, pol, c.At); err != nil {
		h := "the receipt was changed, or comes from another enclave or policy: do not trust it"
		if errors.Is(err, receipt.ErrPolicy) {
			h = "give the policy the run was under"
		}
		return hint.With(fmt.Errorf("receipt does not verify: %w", err), "%s", h)
	}
	textreport.Receipt(w, r, pol)
	if err := checkOpenings(w, r, true, c.Inputs); err != nil {
		return err
	}
	return checkOpenings(w, r, false, c.Outputs)
}

// checkOpenings checks that the receipt names each local file's bytes at
// its path, under the salt given.
func checkOpenings(w io.Writer, r *receipt.Receipt, inputs bool, list Openings) error {
	what := map[bool]string{true: "input", false: "output"}[inputs]
	for _, o := range list {
		f, err := os.Open(o.File)
		if err != nil {
			return hint.With(fmt.Errorf("reading %s: %w", o.File, err), "give the local copy of the bytes you wrote or read")
		}
		err = receipt.Open(r, inputs, o.Path, o.Salt, f)
		f.Close()
		if err != nil {
			return hint.With(fmt.Errorf("the receipt does not name %s as its %s: %w", o.File, what, err),
				"check the salt is the one the enclave answered for this version (truce put and truce get print it): the run did not use these bytes")
		}
		fmt.Fprintf(w, "  checked:    %s %s is the content of %s\n", what, o.Path, o.File)
	}
	return nil
}
