package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/textreport"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// maxReceiptFile bounds the receipt file read (a run result may carry up to
// 1 MiB of stdout and of stderr, base64-encoded).
const maxReceiptFile = 16 << 20

// opening is one --input or --output of receipt verify: a file of the
// receipt, the salt the enclave gave for its version, and the local copy
// of its bytes.
type opening struct {
	path, salt, file string
}

// openings is a repeatable flag of PATH=SALT:LOCALFILE.
type openings []opening

func (o *openings) String() string { return "" }

func (o *openings) Set(v string) error {
	path, rest, ok := strings.Cut(v, "=")
	salt, file, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || path == "" || salt == "" || file == "" {
		return fmt.Errorf("%q: give GUESTPATH=SALT:LOCALFILE, with the salt the enclave answered to your write or read", v)
	}
	*o = append(*o, opening{path, salt, file})
	return nil
}

// checkOpenings checks that the receipt names each local file's bytes at
// its path, under the salt given.
func checkOpenings(e *env, r *receipt.Receipt, inputs bool, list openings) error {
	what := map[bool]string{true: "input", false: "output"}[inputs]
	for _, o := range list {
		f, err := os.Open(o.file)
		if err != nil {
			return withHint(fmt.Errorf("reading %s: %w", o.file, err), "give the local copy of the bytes you wrote or read")
		}
		err = receipt.Open(r, inputs, o.path, o.salt, f)
		f.Close()
		if err != nil {
			return withHint(fmt.Errorf("the receipt does not name %s as its %s: %w", o.file, what, err),
				"check the salt is the one the enclave answered for this version (truce put and truce get print it): the run did not use these bytes")
		}
		fmt.Fprintf(e.Stdout, "  checked:    %s %s is the content of %s\n", what, o.path, o.file)
	}
	return nil
}

// receiptCommands are the commands of receipt.go.
func receiptCommands() (cs []*command) {
	var policyFile, at string
	var ins, outs openings
	cs = append(cs, &command{
		Name:    "receipt verify",
		Args:    "--policy FILE RECEIPT.json",
		Summary: "check a run's receipt: signature, enclave certificate, policy",
		Help:    helpText("receipt verify"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&policyFile, "policy", "", "policy `file` the run was under (required)")
			fs.StringVar(&at, "at", "", "verify as of this RFC 3339 `time` (default now)")
			ins, outs = nil, nil
			fs.Var(&ins, "input", "check the receipt names this input: `GUESTPATH=SALT:LOCALFILE` (repeats)")
			fs.Var(&outs, "output", "check the receipt names this output: `GUESTPATH=SALT:LOCALFILE` (repeats)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give one receipt file")
			}
			if policyFile == "" {
				return usagef("--policy is required")
			}
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at %q: give an RFC 3339 time such as 2026-06-01T12:00:00Z", at)
				}
				now = t
			}
			pdata, err := os.ReadFile(policyFile)
			if err != nil {
				return withHint(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy")
			}
			raw, err := readInput(e, args[0], maxReceiptFile, "receipt", "give the file holding the receipt")
			if err != nil {
				return err
			}
			if len(raw) > maxReceiptFile {
				return fmt.Errorf("receipt file larger than %d bytes", maxReceiptFile)
			}
			r, err := receipt.Decode(raw)
			if err != nil {
				return withHint(fmt.Errorf("%s: %w", args[0], err), "give the JSON the enclave returned for a run")
			}
			// A policy that has expired since still verifies the receipts
			// made while it held: parse it as of the receipt's end.
			pol, err := policy.Decode(pdata)
			if err == nil {
				err = pol.ValidAt(r.Finished)
			}
			if err != nil {
				return withHint(fmt.Errorf("policy %s: %w", policyFile, err), "give the policy the run was under")
			}
			if err := receipt.Verify(r, pol, now); err != nil {
				hint := "the receipt was changed, or comes from another enclave or policy: do not trust it"
				if errors.Is(err, receipt.ErrPolicy) {
					hint = "give the policy the run was under"
				}
				return withHint(fmt.Errorf("receipt does not verify: %w", err), "%s", hint)
			}
			textreport.Receipt(e.Stdout, r, pol)
			if err := checkOpenings(e, r, true, ins); err != nil {
				return err
			}
			return checkOpenings(e, r, false, outs)
		},
	})
	return cs
}
