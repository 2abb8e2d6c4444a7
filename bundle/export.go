package bundle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/receipt"
)

// exportTries bounds the reads of log and receipts Export makes when
// entries are folded away between them.
const exportTries = 3

// Export makes a bundle from the enclave s is connected to, signed by id,
// who must be a principal of the enclave's current policy. It reads the
// attestation, the audit log with its checkpoint, the receipts id may
// read, and then the enclave's chain of policies (verifying it as
// Session.Refresh does); receipts of runs after the checkpoint are left
// out, with the log entries that name them. If the policy changed after
// the checkpoint, Export fails: export again. The enclave keeps its log
// within a budget, folding the oldest entries away with their receipts;
// when that happens between the reads of the log and of the receipts (a
// receipt the exporter may read is missing), Export reads both again, up
// to exportTries times. now dates the bundle. Export does not check the
// result otherwise: Verify it.
func Export(ctx context.Context, s *client.Session, id *identity.Identity, now time.Time) (*Bundle, error) {
	if id == nil {
		return nil, errors.New("exporting: no identity")
	}
	for try := 1; ; try++ {
		b, err := export(ctx, s, id, now)
		if err != nil || try == exportTries {
			return b, err
		}
		if _, err := Verify(b, Options{SkipEvidence: true}); !errors.Is(err, ErrReceipt) {
			return b, nil
		}
	}
}

func export(ctx context.Context, s *client.Session, id *identity.Identity, now time.Time) (*Bundle, error) {
	att, err := s.Attestation(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporting the attestation: %w", err)
	}
	log, err := s.Audit(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporting the audit log: %w", err)
	}
	if log.Checkpoint == nil {
		return nil, errors.New("exporting the audit log: the enclave signed no checkpoint of it (a runtime older than this truce?)")
	}
	// Receipts are read after the log, so every receipt the log names is
	// there (the runtime keeps a receipt before logging its run).
	rs, err := s.Receipts(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporting the receipts: %w", err)
	}
	// The chain is read last: it ends at the checkpoint's policy unless
	// the policy changed since, and then the receipts may have been
	// chosen under another policy than the log's last.
	if err := s.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("exporting the policy chain: %w", err)
	}
	chain := s.Chain()
	if cur := chain[len(chain)-1].SHA256; cur != log.Checkpoint.PolicyHash {
		return nil, fmt.Errorf("exporting: the enclave's policy changed from %s to %s while exporting: export again", log.Checkpoint.PolicyHash, cur)
	}
	pol := s.Current()
	pr := pol.PrincipalByCert(id.Cert.Raw)
	if pr == nil {
		return nil, fmt.Errorf("exporting: %q is not a principal of the enclave's policy %s", id.Name, pol.HashHex())
	}
	have := map[string]*receipt.Receipt{}
	for i := range rs {
		d, err := receipt.Digest(&rs[i])
		if err != nil {
			return nil, fmt.Errorf("exporting the receipts: %w", err)
		}
		have[fmt.Sprintf("%x", d)] = &rs[i]
	}
	b := &Bundle{
		Exporter: pr.Name, Exported: now.UTC(), Policies: chain,
		Attestation: *att, Audit: *log, Receipts: []receipt.Receipt{}, Withheld: []string{},
	}
	for i := range log.Entries {
		e := &log.Entries[i]
		if !isRun(e) {
			continue
		}
		if rc := have[e.Hashes[1]]; rc != nil {
			b.Receipts = append(b.Receipts, *rc)
		} else {
			b.Withheld = append(b.Withheld, e.Hashes[1])
		}
	}
	if err := b.Sign(id.Key); err != nil {
		return nil, err
	}
	return b, nil
}
