package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"github.com/truce-project/truce/attest/sim"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// TestLifecycle is the trust lifecycle on one enclave, through the CLI and
// the SDK: carol's share may feed one run; the result is held until alice
// and bob release it; a successor without quorum, or signed by an
// outsider, is refused and changes nothing; an approved successor takes
// effect, carries over exactly the files it names, later receipts carry
// the chain of policy hashes, and an audit bundle exported afterwards
// verifies offline.
func TestLifecycle(t *testing.T) {
	r := startStory(t, storyOptions{reader: true, edit: func(doc map[string]any) {
		for _, p := range doc["principals"].([]any) {
			pr := p.(map[string]any)
			if pr["name"] == "carol" {
				pr["budgets"] = map[string]any{"/input/shamir-2.dat": map[string]any{"once": true}}
			}
		}
		doc["holds"] = []any{map[string]any{"path": "/output/", "release_by": []string{"alice", "bob"}}}
		doc["lifecycle"] = map[string]any{"quorum": map[string]any{"threshold": 2, "of": []string{"alice", "bob", "carol"}}}
	}})
	s := r.s
	ctx := context.Background()
	secret := []byte("e2e: lifecycle")
	shares := split(t, secret)
	r.put(t, "oscar", shamir.Path, shamir.Wasm)
	for i, n := range shareNames {
		r.put(t, n, "/input/shamir-"+string(rune('0'+i))+".dat", shares[i])
	}

	// carol's share feeds one run; the receipt shows the count.
	rcpt := filepath.Join(s.dir, "receipt.json")
	out, errOut, code := truce(t, s.env("dave"), nil, "exec", "--receipt", rcpt, shamir.Path)
	if code != 0 {
		t.Fatalf("exec (%d): %s %s", code, out, errOut)
	}
	var rc receipt.Receipt
	b, _ := os.ReadFile(rcpt)
	if err := json.Unmarshal(b, &rc); err != nil || len(rc.Budgets) != 1 || rc.Budgets[0].Runs != 1 || rc.Budgets[0].MaxRuns != 1 {
		t.Fatalf("receipt budgets %+v (%v)", rc.Budgets, err)
	}
	if strings.Contains(out, "combined") {
		t.Fatalf("the output of a program writing held results was shown: %s", out)
	}
	out, errOut, code = truce(t, s.env("dave"), nil, "exec", shamir.Path)
	if code == 0 || !strings.Contains(errOut, "budget exhausted") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("second run of a once input (%d): %s %s", code, out, errOut)
	}

	// The result is held until alice and bob release it.
	dave := r.dial(t, "dave")
	var buf bytes.Buffer
	if _, err := dave.Get(ctx, "/output/shamir.dat", &buf); !errors.Is(err, client.ErrHeld) || buf.Len() != 0 {
		t.Fatalf("held result read: %v (%d bytes)", err, buf.Len())
	}
	// alice releases the version the receipt names, by its commitment.
	var commit string
	for _, f := range rc.Outputs {
		if f.Path == "/output/shamir.dat" {
			commit = f.Commitment
		}
	}
	out, errOut, code = truce(t, s.env("alice"), nil, "release", "--commitment", commit, "/output/shamir.dat")
	if code != 0 || !strings.Contains(out, "still held for: bob") {
		t.Fatalf("alice release (%d): %s %s", code, out, errOut)
	}
	if _, err := dave.Get(ctx, "/output/shamir.dat", &buf); !errors.Is(err, client.ErrHeld) {
		t.Fatalf("read after one release of two: %v", err)
	}
	if out, errOut, code := truce(t, s.env("bob"), nil, "release", "/output/shamir.dat"); code != 0 || !strings.Contains(out, "readable now") {
		t.Fatalf("bob release (%d): %s %s", code, out, errOut)
	}
	if _, err := dave.Get(ctx, "/output/shamir.dat", &buf); err != nil || !bytes.Equal(buf.Bytes(), secret) {
		t.Fatalf("released result: %v %q", err, buf.Bytes())
	}

	// The successor: carries alice's shares and the program, drops carol's
	// budget (her share is wiped).
	var doc map[string]any
	_ = json.Unmarshal(s.pol.Bytes(), &doc)
	h := s.pol.HashHex()
	doc["name"] = "e2e-shamir-2"
	doc["lifecycle"] = map[string]any{
		"quorum":      map[string]any{"threshold": 2, "of": []string{"alice", "bob", "carol"}},
		"predecessor": map[string]any{"genesis": h, "policy": h, "sequence": 1},
		"carry_over":  []string{"/input/shamir-0.dat", "/input/shamir-1.dat", "/program/"},
	}
	for _, p := range doc["principals"].([]any) {
		delete(p.(map[string]any), "budgets")
	}
	nb, _ := json.MarshalIndent(doc, "", "  ")
	next, err := policy.Parse(nb, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nextFile := filepath.Join(s.dir, "policy-2.json")
	os.WriteFile(nextFile, nb, 0o644)
	change := filepath.Join(s.dir, "change.json")
	if out, errOut, code := truce(t, nil, nil, "policy", "propose", "-o", change, s.polFile, nextFile); code != 0 {
		t.Fatalf("propose: %s %s", out, errOut)
	}
	rita := r.dial(t, "rita")
	before := snapshot(t, rita)
	unchanged := func(what string) {
		t.Helper()
		if got, err := rita.Policy(ctx); err != nil || !bytes.Equal(got, s.pol.Bytes()) {
			t.Fatalf("%s: the policy changed (%v)", what, err)
		}
		if after := snapshot(t, rita); !equalMaps(before, after) {
			t.Fatalf("%s: files changed: %v → %v", what, before, after)
		}
	}

	// Without quorum: one approval of two.
	if out, errOut, code := truce(t, s.env("alice"), nil, "policy", "sign", change); code != 0 {
		t.Fatalf("alice sign: %s %s", out, errOut)
	}
	out, errOut, code = truce(t, s.env("alice"), nil, "policy", "apply", change)
	if code == 0 || !strings.Contains(errOut, "not enough approvals") {
		t.Fatalf("apply without quorum (%d): %s %s", code, out, errOut)
	}
	unchanged("without quorum")

	// Signed by an outsider: mallory's key under bob's name, and under her own.
	prop, _ := os.ReadFile(change)
	for _, signer := range []string{"bob", "mallory"} {
		p, err := succession.ParseProposal(prop)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(succession.Message(s.pol.Hash(), next.Hash()))
		sig, _ := s.parties["mallory"].id.Key.Sign(rand.Reader, d[:], crypto.SHA256)
		p.Approvals = append(p.Approvals, api.PolicyApproval{Signer: signer, Signature: sig})
		if _, err := r.dial(t, "mallory").ApplySuccessor(ctx, succession.Encode(p)); !errors.Is(err, client.ErrSuccessorRefused) {
			t.Fatalf("outsider approval as %s: %v", signer, err)
		}
		unchanged("outsider as " + signer)
	}

	// With quorum: it takes effect.
	if out, errOut, code := truce(t, s.env("bob"), nil, "policy", "sign", change); code != 0 {
		t.Fatalf("bob sign: %s %s", out, errOut)
	}
	out, errOut, code = truce(t, s.env("alice"), nil, "policy", "apply", change)
	if code != 0 || !strings.Contains(out, next.HashHex()+" is now in force") || !strings.Contains(out, "carried over: 3, wiped: 2") {
		t.Fatalf("apply (%d): %s %s", code, out, errOut)
	}
	// A client trusting the first policy follows the verified chain.
	rita2 := r.dial(t, "rita")
	if rita2.Current().Hash() != next.Hash() || len(rita2.Chain()) != 2 {
		t.Fatalf("session current %s, chain %d", rita2.Current().HashHex(), len(rita2.Chain()))
	}
	// So does a client that holds only the successor: it routes by the
	// genesis hash the successor names and checks the chain itself.
	rita3, err := client.Dial(ctx, next, s.parties["rita"].id)
	if err != nil || rita3.Current().Hash() != next.Hash() || len(rita3.Chain()) != 2 {
		t.Fatalf("dialing with the successor: %v", err)
	}
	// Its own check of the enclave's evidence binds the genesis policy
	// too, as the evidence does.
	devicePub, err := sim.LoadPublic(filepath.Join(r.ps.Dir, "device.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rita3.VerifyEvidence(ctx, sim.NewVerifier(devicePub)); err != nil {
		t.Fatalf("the enclave's evidence, checked by a client holding only the successor: %v", err)
	}
	rita3.Close()
	after := snapshot(t, rita2)
	want := map[string]string{}
	for p, v := range before {
		want[p] = "(absent)"
		if p == "/input/shamir-0.dat" || p == "/input/shamir-1.dat" || p == shamir.Path {
			want[p] = v
		}
	}
	if !equalMaps(after, want) {
		t.Fatalf("files after the change %v, want exactly %v", after, want)
	}
	// Replaying the approved proposal is refused now.
	if out, errOut, code := truce(t, s.env("alice"), nil, "policy", "apply", change); code == 0 || !strings.Contains(errOut, "not a successor of the base policy") {
		t.Fatalf("replayed proposal (%d): %s %s", code, out, errOut)
	}
	// Later receipts carry the chain and verify against the successor.
	r.put(t, "carol", "/input/shamir-2.dat", shares[2])
	res, err := r.dial(t, "dave").Run(ctx, shamir.Path)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Receipt.PolicyChain; len(c) != 2 || c[0] != h || c[1] != next.HashHex() {
		t.Fatalf("receipt policy chain %v", c)
	}
	if err := receipt.Verify(&res.Receipt, next, time.Now()); err != nil {
		t.Fatalf("receipt under the successor: %v", err)
	}
	rb, _ := json.Marshal(res.Receipt)
	rf := filepath.Join(s.dir, "receipt-2.json")
	os.WriteFile(rf, rb, 0o644)
	if out, errOut, code := truce(t, nil, nil, "receipt", "verify", "--policy", nextFile, rf); code != 0 || !strings.Contains(out, "chain:      "+h+" → "+next.HashHex()) {
		t.Fatalf("receipt verify under the successor: %s %s", out, errOut)
	}

	// dave, who holds the first policy, exports the audit bundle: it holds
	// the approved chain and verifies offline against either policy, each
	// run under the policy it was made under; an altered byte is refused.
	bundleFile := filepath.Join(s.dir, "bundle.json")
	devPub := filepath.Join(r.ps.Dir, "device.pub")
	if out, errOut, code := truce(t, s.env("dave"), nil, "export", "-o", bundleFile, "--device-pub", devPub); code != 0 ||
		!strings.Contains(errOut, "policy "+next.HashHex()+" (chain of 2)") || !strings.Contains(errOut, "evidence checked") {
		t.Fatalf("export after the change (%d): %s %s", code, out, errOut)
	}
	for _, pf := range []string{s.polFile, nextFile} {
		out, errOut, code := truce(t, nil, nil, "audit", "verify", "--device-pub", devPub, "--policy", pf, bundleFile)
		if code != 0 || !strings.Contains(out, "#1 \"e2e-shamir-2\" sha256 "+next.HashHex()+": succeeded #0 at audit entry") ||
			!strings.Contains(out, "approved by alice, bob") || !strings.Contains(out, "2 verified, signed by the enclave key; 0 withheld") ||
			!strings.Contains(out, "dave ran "+shamir.Path) || !strings.Contains(out, ") under policy #0: ok") || !strings.Contains(out, ") under policy #1: ok") {
			t.Fatalf("audit verify --policy %s (%d): %s %s", pf, code, out, errOut)
		}
	}
	bb, _ := os.ReadFile(bundleFile)
	bad := bytes.Clone(bb)
	bad[len(bb)/3] ^= 1
	os.WriteFile(bundleFile, bad, 0o644)
	if out, errOut, code := truce(t, nil, nil, "audit", "verify", "--device-pub", devPub, bundleFile); code != 1 || out != "" {
		t.Fatalf("altered bundle (%d): %s %s", code, out, errOut)
	}
}
