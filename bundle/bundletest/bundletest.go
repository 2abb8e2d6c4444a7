// Package bundletest makes valid audit bundles without an enclave, for
// tests: a world with a policy, a simulated device, an enclave key
// certified by the world's CA, an audit log of writes and runs with the
// receipts the enclave would have signed, and the bundle a principal
// exports from all that.
//
// It must never be imported by code that ships in the truce binary.
package bundletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/bundle"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// Programs of the fixture's policy, with their bytes.
const (
	ProgramP = "/program/p.wasm"
	ProgramQ = "/program/q.wasm"
)

// Fixture is a valid bundle and what it was made from.
type Fixture struct {
	World  *trucetest.World
	Device *simprovider.Device
	// Key is the enclave key; Chain its certificate chain (DER, leaf first).
	Key   *ecdsa.PrivateKey
	Chain [][]byte
	// Policies is the enclave's chain of policies: World.Policy, then
	// its successor for NewSuccessor.
	Policies []*policy.Policy
	// Log is the enclave's audit log.
	Log *audit.Log
	// Bundle is the bundle exported by principal Exporter; Bytes its file.
	Bundle   *bundle.Bundle
	Exporter string
	Bytes    []byte
}

// New makes a fixture exported by exporter, one of: "alice" (writes the
// inputs and programs; may read no receipt), "bob" (runs p and reads every
// output: reads every receipt), "carol" (runs q only: reads q's receipts).
// The log holds, in order: alice writes p, q and an input; bob runs p;
// carol runs q; bob runs p again, which fails.
func New(t testing.TB, exporter string) *Fixture {
	return build(t, exporter, false)
}

// NewSuccessor makes a fixture whose enclave changed policy: its first
// policy names a quorum of two of alice, bob and carol; after bob's run of
// p and carol's of q, alice and bob approve a successor (sequence 1) that
// carries every file over and gives carol r on /output/, so that under it
// carol may read every receipt; then bob runs p, which fails, and carol
// runs q. carol may read one receipt made under the first policy and
// both made under the successor; alice none; bob all.
func NewSuccessor(t testing.TB, exporter string) *Fixture {
	return build(t, exporter, true)
}

func build(t testing.TB, exporter string, succeed bool) *Fixture {
	t.Helper()
	progs := map[string][]byte{ProgramP: []byte("program p"), ProgramQ: []byte("program q")}
	o := trucetest.WorldOptions{
		Principals: map[string]map[string]string{
			"alice": {"/program/": "w", "/input/": "w"},
			"bob":   {ProgramP: "x", "/output/": "r"},
			"carol": {ProgramQ: "x"},
		},
		Programs: progs,
	}
	if succeed {
		o.Lifecycle = &policy.Lifecycle{Quorum: &policy.Quorum{Threshold: 2, Of: []string{"alice", "bob", "carol"}}}
	}
	w := trucetest.NewWorld(t, o)
	// Policy files end in a newline, as truce policy new writes them.
	pol, err := policy.Parse(append(bytes.Clone(w.Policy.Bytes()), '\n'), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	w.Policy = pol
	dev, err := simprovider.NewDevice(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certs := w.Issue(t, &key.PublicKey, nil, time.Now().Add(time.Hour))
	f := &Fixture{World: w, Device: dev, Key: key, Log: &audit.Log{}, Exporter: exporter, Policies: []*policy.Policy{pol}}
	for _, c := range certs {
		f.Chain = append(f.Chain, c.Raw)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	rd := attest.ReportData(certs[0].RawSubjectPublicKeyInfo, w.Policy.Hash(), nonce)
	ev, err := simprovider.NewProvider(dev, w.Measurement).Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	links := []api.PolicyLink{{SHA256: pol.HashHex(), Policy: pol.Bytes(), Approvals: []api.PolicyApproval{}}}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	input := []byte("input")
	salt := make([]byte, audit.SaltSize)
	rand.Read(salt)
	commit := func(b []byte) string { return audit.Commit(salt, b) }
	f.Log.Append(audit.Entry{Principal: "alice", Action: "write", Path: ProgramP, Hashes: []string{sum(progs[ProgramP])}, Outcome: "ok"})
	f.Log.Append(audit.Entry{Principal: "alice", Action: "write", Path: ProgramQ, Hashes: []string{sum(progs[ProgramQ])}, Outcome: "ok"})
	f.Log.Append(audit.Entry{Principal: "alice", Action: "write", Path: "/input/a", Hashes: []string{commit(input)}, Outcome: "ok"})
	type run struct {
		who, prog string
		exit      uint32
	}
	runs := []run{{"bob", ProgramP, 0}, {"carol", ProgramQ, 0}, {"bob", ProgramP, 3}}
	if succeed {
		runs = append(runs, run{"carol", ProgramQ, 0})
	}
	var rcs []receipt.Receipt
	var under []*policy.Policy // the policy each receipt was made under
	for i, run := range runs {
		if succeed && i == 2 {
			next, approvals := successorOf(t, w, pol)
			f.Policies = append(f.Policies, next)
			links = append(links, api.PolicyLink{SHA256: next.HashHex(), Policy: next.Bytes(), Approvals: approvals})
			f.Log.Append(audit.Entry{Principal: "alice", Action: "policy-successor", Path: "alice,bob", Hashes: []string{pol.HashHex(), next.HashHex()}, Outcome: "ok"})
		}
		cur := f.Current()
		var chain []string
		if len(links) > 1 {
			for _, l := range links {
				chain = append(chain, l.SHA256)
			}
		}
		now := time.Now().UTC()
		rc := receipt.Receipt{
			PolicyHash: cur.HashHex(), Program: run.prog, ProgramHash: sum(progs[run.prog]),
			Inputs:   []receipt.FileHash{{Path: "/input/a", Commitment: commit(input)}},
			Outputs:  []receipt.FileHash{{Path: "/output/o", Commitment: commit([]byte(run.prog))}},
			ExitCode: run.exit, Outcome: "exited", Started: now, Finished: now, Platform: "sim", Chain: f.Chain,
			PolicyChain: chain,
		}
		if err := receipt.Sign(&rc, key); err != nil {
			t.Fatal(err)
		}
		d, _ := receipt.Digest(&rc)
		outcome := "ok"
		if run.exit != 0 {
			outcome = api.ProblemProgramFailed
		}
		f.Log.Append(audit.Entry{Principal: run.who, Action: "run", Path: run.prog, Hashes: []string{rc.ProgramHash, hex.EncodeToString(d[:])}, Outcome: outcome})
		rcs = append(rcs, rc)
		under = append(under, cur)
	}
	f.Log.Append(audit.Entry{Principal: exporter, Action: "audit", Outcome: "ok"})
	cp, entries, err := f.Log.Checkpoint(f.Current().HashHex(), key)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{
		Exporter: exporter, Exported: time.Now().UTC(), Policies: links,
		Attestation: api.Attestation{Platform: "sim", Evidence: ev, Chain: f.Chain, Nonce: nonce},
		Audit:       api.AuditLog{Entries: entries, Head: cp.Head, Checkpoint: cp},
		Receipts:    []receipt.Receipt{}, Withheld: []string{},
	}
	for i, rc := range rcs {
		d, _ := receipt.Digest(&rc)
		if under[i].MayReadReceipt(exporter, rc.Program) {
			b.Receipts = append(b.Receipts, rcs[i])
		} else {
			b.Withheld = append(b.Withheld, hex.EncodeToString(d[:]))
		}
	}
	f.Bundle = b
	f.Resign(t)
	return f
}

// successorOf makes the successor of NewSuccessor and alice's and bob's
// approvals of it.
func successorOf(t testing.TB, w *trucetest.World, base *policy.Policy) (*policy.Policy, []api.PolicyApproval) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(base.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	g := base.GenesisHash()
	doc["name"] = "test-world-2"
	doc["lifecycle"] = &policy.Lifecycle{Quorum: base.Quorum(), CarryOver: []string{"/"},
		Predecessor: &policy.Predecessor{Genesis: hex.EncodeToString(g[:]), Policy: base.HashHex(), Sequence: 1}}
	for _, p := range doc["principals"].([]any) {
		if pr := p.(map[string]any); pr["name"] == "carol" {
			pr["capabilities"].(map[string]any)["/output/"] = "r"
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	next, err := policy.Parse(append(b, '\n'), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := succession.Propose(base, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob"} {
		if err := succession.Sign(p, base, next, w.IDs[n]); err != nil {
			t.Fatal(err)
		}
	}
	return next, p.Approvals
}

// Current is the last policy of the enclave's chain.
func (f *Fixture) Current() *policy.Policy { return f.Policies[len(f.Policies)-1] }

// Resign signs the bundle again as its exporter, after a test changed it,
// and encodes it into Bytes: what an exporter who lies could do.
func (f *Fixture) Resign(t testing.TB) {
	t.Helper()
	if err := f.Bundle.Sign(f.World.IDs[f.Exporter].Key); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Marshal(f.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	f.Bytes = b
}

// Checkpoint signs a new checkpoint of entries with the enclave key and
// puts it and them in the bundle: what a stolen enclave key could do.
func (f *Fixture) Checkpoint(t testing.TB, entries []audit.Entry) {
	t.Helper()
	head := audit.Genesis
	if n := len(entries); n > 0 {
		head = entries[n-1].Hash
	}
	cp := &audit.Checkpoint{Version: audit.CheckpointVersion, PolicyHash: f.Current().HashHex(),
		Prev: audit.Genesis, BasePolicy: f.Policies[0].HashHex(),
		Size: uint64(len(entries)), Total: uint64(len(entries)), Head: head, Time: f.Bundle.Audit.Checkpoint.Time}
	d := audit.CheckpointDigest(cp)
	sig, err := ecdsa.SignASN1(rand.Reader, f.Key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	cp.Signature = sig
	f.Bundle.Audit = api.AuditLog{Entries: entries, Head: head, Checkpoint: cp}
}

// Verifier is the sim verifier holding the fixture's device key.
func (f *Fixture) Verifier() attest.Verifier { return sim.NewVerifier(f.Device.Public()) }

// DevicePublicPEM is the device public key as truce pas init writes it.
func (f *Fixture) DevicePublicPEM(t testing.TB) []byte {
	der, err := x509.MarshalPKIXPublicKey(f.Device.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
