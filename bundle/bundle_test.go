package bundle_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/bundle/bundletest"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

func parseVerify(f *bundletest.Fixture, data []byte) (*bundle.Report, error) {
	b, err := bundle.Parse(data)
	if err != nil {
		return nil, err
	}
	return bundle.Verify(b, bundle.Options{Verifier: f.Verifier()})
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		exporter string
		withheld int
	}{{"bob", 0}, {"carol", 2}, {"alice", 3}} {
		t.Run(tc.exporter, func(t *testing.T) {
			f := bundletest.New(t, tc.exporter)
			rep, err := parseVerify(f, f.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 3 || rep.Exporter != tc.exporter || rep.Evidence == nil || !rep.Enclave.Simulated {
				t.Fatalf("report: %+v", rep)
			}
			withheld := 0
			for _, r := range rep.Runs {
				if r.Receipt == nil {
					withheld++
				}
			}
			if withheld != tc.withheld {
				t.Fatalf("%d receipts withheld, want %d", withheld, tc.withheld)
			}
			if rep.Runs[1].Entry.Principal != "carol" || rep.Runs[2].Entry.Outcome != "program-failed" {
				t.Fatalf("runs: %+v", rep.Runs)
			}
		})
	}
}

func TestSkipEvidence(t *testing.T) {
	f := bundletest.New(t, "bob")
	rep, err := bundle.Verify(f.Bundle, bundle.Options{SkipEvidence: true})
	if err != nil || rep.Evidence != nil {
		t.Fatalf("%+v, %v", rep, err)
	}
	if _, err := bundle.Verify(f.Bundle, bundle.Options{}); !errors.Is(err, bundle.ErrEnclave) {
		t.Fatalf("no verifier: %v", err)
	}
}

// TestTamper changes one thing in a bundle and signs it again as its
// exporter, as an exporter who lies could: every change is caught by what
// the enclave and the attestation service signed, not by the digest.
func TestTamper(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exporter string
		tamper   func(t *testing.T, f *bundletest.Fixture)
		resign   bool
		want     error
	}{
		{"nothing", "bob", func(*testing.T, *bundletest.Fixture) {}, true, nil},
		{"receipt dropped", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Receipts = f.Bundle.Receipts[1:] }, true, bundle.ErrReceipt},
		{"readable receipt withheld", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			d, _ := receipt.Digest(&f.Bundle.Receipts[0])
			f.Bundle.Receipts = f.Bundle.Receipts[1:]
			f.Bundle.Withheld = []string{hexOf(d[:])}
		}, true, bundle.ErrReceipt},
		{"unknown receipt withheld", "alice", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Withheld[0] = hexOf(make([]byte, 32)) }, true, bundle.ErrReceipt},
		{"withheld twice", "alice", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Withheld = append(f.Bundle.Withheld, f.Bundle.Withheld[2])
		}, true, bundle.ErrReceipt},
		{"receipt output changed", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Receipts[0].Outputs[0].Commitment = hexOf(make([]byte, 32))
		}, true, bundle.ErrReceipt},
		{"receipts swapped", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			r := f.Bundle.Receipts
			r[0], r[1] = r[1], r[0]
		}, true, bundle.ErrReceipt},
		{"receipt twice", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Receipts = append(f.Bundle.Receipts, f.Bundle.Receipts[2])
		}, true, bundle.ErrReceipt},
		{"receipt re-signed by another enclave", "bob", func(t *testing.T, f *bundletest.Fixture) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			rc := &f.Bundle.Receipts[0]
			rc.Chain = nil
			for _, c := range f.World.Issue(t, &k.PublicKey, nil, time.Now().Add(time.Hour)) {
				rc.Chain = append(rc.Chain, c.Raw)
			}
			if err := receipt.Sign(rc, k); err != nil {
				t.Fatal(err)
			}
		}, true, bundle.ErrReceipt},
		{"audit principal changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Audit.Entries[3].Principal = "carol" }, true, bundle.ErrAudit},
		{"audit log cut", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Audit.Entries = f.Bundle.Audit.Entries[:len(f.Bundle.Audit.Entries)-1]
		}, true, bundle.ErrAudit},
		{"audit head changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Audit.Head = audit.Genesis }, true, bundle.ErrAudit},
		{"checkpoint size changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Audit.Checkpoint.Size-- }, true, bundle.ErrAudit},
		{"checkpoint removed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Audit.Checkpoint = nil }, true, bundle.ErrAudit},
		{"run entry removed, log re-signed by the enclave key", "bob", func(t *testing.T, f *bundletest.Fixture) {
			// Even one holding the enclave key cannot drop a run without
			// its receipt showing it.
			es := f.Bundle.Audit.Entries[:4]
			f.Checkpoint(t, es)
		}, true, bundle.ErrReceipt},
		{"policy changed", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			l := &f.Bundle.Policies[0]
			l.Policy = append(bytes.Clone(l.Policy), ' ')
		}, true, bundle.ErrPolicy},
		{"policy and its hash changed", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			l := &f.Bundle.Policies[0]
			l.Policy = append(bytes.Clone(l.Policy), ' ')
			h := sha256.Sum256(l.Policy)
			l.SHA256 = hexOf(h[:])
		}, true, bundle.ErrEnclave},
		{"policy not JSON", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Policies[0].Policy = []byte("{") }, true, bundle.ErrPolicy},
		{"no policy", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Policies = nil }, true, bundle.ErrPolicy},
		{"first policy approved", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies[0].Approvals = []api.PolicyApproval{{Signer: "alice", Signature: []byte{1}}}
		}, true, bundle.ErrPolicy},
		{"first policy twice", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies = append(f.Bundle.Policies, f.Bundle.Policies[0])
		}, true, bundle.ErrPolicy},
		{"evidence changed", "bob", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Attestation.Evidence[len(f.Bundle.Attestation.Evidence)/2] ^= 1
		}, true, bundle.ErrEnclave},
		{"nonce changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Attestation.Nonce[0] ^= 1 }, true, bundle.ErrEnclave},
		{"platform changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Attestation.Platform = "nitro" }, true, bundle.ErrEnclave},
		{"leaf of another key", "bob", func(t *testing.T, f *bundletest.Fixture) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			f.Bundle.Attestation.Chain[0] = f.World.Issue(t, &k.PublicKey, nil, time.Now().Add(time.Hour))[0].Raw
		}, true, bundle.ErrEnclave},
		{"leaf missing", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Attestation.Chain = f.Bundle.Attestation.Chain[1:] }, true, bundle.ErrEnclave},
		{"no chain", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Attestation.Chain = nil }, true, bundle.ErrEnclave},
		{"exporter changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Exporter = "carol" }, false, bundle.ErrDigest},
		{"exporter changed and digest redone", "bob", func(t *testing.T, f *bundletest.Fixture) {
			f.Bundle.Exporter = "carol"
			if err := f.Bundle.Sign(f.World.IDs["bob"].Key); err != nil {
				t.Fatal(err)
			}
		}, false, bundle.ErrExporter},
		{"exporter no principal", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Exporter = "eve" }, false, bundle.ErrDigest},
		{"export time changed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Exported = f.Bundle.Exported.Add(time.Hour) }, false, bundle.ErrDigest},
		{"signature removed", "bob", func(_ *testing.T, f *bundletest.Fixture) { f.Bundle.Signature = nil }, false, bundle.ErrExporter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bundletest.New(t, tc.exporter)
			v := f.Verifier()
			tc.tamper(t, f)
			if tc.resign {
				f.Resign(t)
			}
			_, err := bundle.Verify(f.Bundle, bundle.Options{Verifier: v})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("untouched bundle: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestWrongDeviceKey: the evidence does not verify with another device's
// key.
func TestWrongDeviceKey(t *testing.T) {
	f := bundletest.New(t, "bob")
	dev, _ := simprovider.NewDevice(nil)
	if _, err := bundle.Verify(f.Bundle, bundle.Options{Verifier: sim.NewVerifier(dev.Public())}); !errors.Is(err, bundle.ErrEnclave) {
		t.Fatalf("got %v", err)
	}
}

// TestEveryByte alters every byte of a bundle file, each in turn, in the
// ways that slip past lenient decoders (a bit, letter case, the high bit,
// all bits), and requires each altered file to be refused.
func TestEveryByte(t *testing.T) {
	f := bundletest.New(t, "carol")
	if _, err := parseVerify(f, f.Bytes); err != nil {
		t.Fatal(err)
	}
	masks := []byte{0x01, 0x20, 0x80, 0xff, 0x02, 0x04, 0x08, 0x10, 0x40}
	data := bytes.Clone(f.Bytes)
	for i := range data {
		m := masks[i%len(masks)]
		data[i] ^= m
		if _, err := parseVerify(f, data); err == nil {
			t.Errorf("byte %d (%q) ^ %#x went unnoticed", i, f.Bytes[i], m)
		}
		data[i] ^= m
	}
	// Removing or adding a byte is caught too.
	for _, i := range []int{0, 1, len(data) / 3, len(data) / 2, len(data) - 2, len(data) - 1} {
		cut := append(bytes.Clone(data[:i]), data[i+1:]...)
		if _, err := parseVerify(f, cut); err == nil {
			t.Errorf("removing byte %d went unnoticed", i)
		}
		grown := append(append(bytes.Clone(data[:i]), ' '), data[i:]...)
		if _, err := parseVerify(f, grown); err == nil {
			t.Errorf("inserting a space at %d went unnoticed", i)
		}
	}
	t.Logf("%d bytes, each altered once, all refused", len(data))
}

func TestParseRefuses(t *testing.T) {
	f := bundletest.New(t, "bob")
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("PK\x03\x04")},
		{"other JSON", []byte(`{"version":1}`)},
		{"later version", bytes.Replace(f.Bytes, []byte(`"version":1,"exporter"`), []byte(`"version":2,"exporter"`), 1)},
		{"no digest", bytes.Replace(f.Bytes, []byte(`,"digest":"`), []byte(`,"Digest":"`), 1)},
		// The rest have their digest redone: the form alone refuses them.
		{"indented", redigest(append([]byte(" "), f.Bytes...))},
		{"no newline", f.Bytes[:len(f.Bytes)-1]},
		{"key case", redigest(bytes.Replace(f.Bytes, []byte(`"exporter"`), []byte(`"Exporter"`), 1))},
		{"unknown field", redigest(bytes.Replace(f.Bytes, []byte(`"exporter"`), []byte(`"x":1,"exporter"`), 1))},
		{"duplicate field", redigest(bytes.Replace(f.Bytes, []byte(`"exporter"`), []byte(`"exporter":"alice","exporter"`), 1))},
		{"escaped letter", redigest(bytes.Replace(f.Bytes, []byte(`"exporter":"bob"`), []byte(`"exporter":"b\u006fb"`), 1))},
		{"too big", make([]byte, bundle.MaxSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bundle.Parse(tc.data); !errors.Is(err, bundle.ErrFormat) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

var update = flag.Bool("update", false, "write testdata/bundle.json and testdata/device.pub anew")

// TestFixture checks the fixed bundle in testdata, which the fuzz test and
// the CLI scripts use: one of an enclave that changed policy once
// (bundletest.NewSuccessor), exported by carol. With -update it makes a
// new one. It verifies for
// ever: certificates are checked as of the bundle's checkpoint.
func TestFixture(t *testing.T) {
	if *update {
		f := bundletest.NewSuccessor(t, "carol")
		if err := os.WriteFile("testdata/bundle.json", f.Bytes, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/device.pub", f.DevicePublicPEM(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, v := fixture(t)
	b, err := bundle.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(b, bundle.Options{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Chain) != 2 || len(rep.Runs) != 4 || rep.Runs[0].Receipt != nil || rep.Runs[1].Receipt == nil || rep.Runs[3].Policy != 1 {
		t.Fatalf("runs: %+v", rep.Runs)
	}
}

// fixture returns the fixed bundle of testdata and a verifier for it.
func fixture(t testing.TB) ([]byte, attest.Verifier) {
	data, err := os.ReadFile("testdata/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sim.LoadPublic("testdata/device.pub")
	if err != nil {
		t.Fatal(err)
	}
	return data, sim.NewVerifier(pub)
}

// FuzzParse feeds arbitrary bytes to Parse and what it accepts to Verify:
// neither may panic, Parse accepts only what Marshal writes, and nothing
// but the fixture itself verifies.
func FuzzParse(f *testing.F) {
	seed, v := fixture(f)
	f.Add(seed)
	f.Add([]byte(`{"format":"truce-audit-bundle","version":1}`))
	f.Add([]byte(`{"format":"truce-audit-bundle","version":1,"exporter":"","exported":"0001-01-01T00:00:00Z","policies":null,"attestation":{"platform":"","evidence":null,"chain":null,"nonce":null},"audit":{"entries":null,"head":""},"receipts":null,"withheld":null,"digest":"","signature":null}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Parse(data)
		if err != nil {
			return
		}
		again, err := bundle.Marshal(b)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("Parse accepted bytes that Marshal does not give back: %v", err)
		}
		if _, err := bundle.Verify(b, bundle.Options{Verifier: v}); err == nil && !bytes.Equal(data, seed) {
			t.Fatalf("a bundle other than the fixture verified")
		}
	})
}

// redigest puts into a bundle file the digest of its bytes, as one
// who alters a file and knows the format would.
func redigest(data []byte) []byte {
	i := bytes.LastIndex(data, []byte(`,"digest":"`))
	h := sha256.Sum256(append([]byte(bundle.Domain), data[:i]...))
	out := bytes.Clone(data)
	copy(out[i+len(`,"digest":"`):], hexOf(h[:]))
	return out
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestSuccessor verifies bundles of an enclave that changed policy: the
// chain's approvals, the change in the audit log, each receipt under the
// policy its run was made under, and read rights under that policy too.
func TestSuccessor(t *testing.T) {
	for _, tc := range []struct {
		exporter string
		withheld []int // indexes of the runs withheld
	}{{"bob", nil}, {"carol", []int{0}}, {"alice", []int{0, 1, 2, 3}}} {
		t.Run(tc.exporter, func(t *testing.T) {
			f := bundletest.NewSuccessor(t, tc.exporter)
			rep, err := parseVerify(f, f.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Chain) != 2 || rep.Policy.Hash() != f.Current().Hash() || rep.Chain[1].Seq != 5 ||
				len(rep.Chain[1].ApprovedBy) != 2 || rep.Chain[0].Seq != -1 {
				t.Fatalf("chain: %+v", rep.Chain)
			}
			var withheld []int
			for i, r := range rep.Runs {
				if r.Receipt == nil {
					withheld = append(withheld, i)
				}
				if want := min(i/2, 1); r.Policy != want {
					t.Errorf("run %d under policy %d, want %d", i, r.Policy, want)
				}
			}
			if len(rep.Runs) != 4 || fmt.Sprint(withheld) != fmt.Sprint(tc.withheld) {
				t.Fatalf("%d runs, withheld %v, want %v", len(rep.Runs), withheld, tc.withheld)
			}
		})
	}
}

// TestSuccessorTamper alters the chain of a bundle whose enclave changed
// policy, or what ties it to the log and the receipts.
func TestSuccessorTamper(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exporter string
		tamper   func(t *testing.T, f *bundletest.Fixture)
		want     error
	}{
		{"nothing", "carol", func(*testing.T, *bundletest.Fixture) {}, nil},
		{"approval signature altered", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			a := f.Bundle.Policies[1].Approvals
			a[0].Signature = bytes.Clone(a[0].Signature)
			a[0].Signature[len(a[0].Signature)-1] ^= 1
		}, bundle.ErrPolicy},
		{"approval removed", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies[1].Approvals = f.Bundle.Policies[1].Approvals[1:]
		}, bundle.ErrPolicy},
		{"approval signer renamed", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies[1].Approvals[1].Signer = "carol"
		}, bundle.ErrPolicy},
		{"approval signed by an outsider", "carol", func(t *testing.T, f *bundletest.Fixture) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			d := sha256.Sum256(succession.Message(f.Policies[0].Hash(), f.Policies[1].Hash()))
			sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
			f.Bundle.Policies[1].Approvals[1].Signature = sig
		}, bundle.ErrPolicy},
		{"successor altered", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			l := &f.Bundle.Policies[1]
			l.Policy = bytes.Replace(l.Policy, []byte(`"test-world-2"`), []byte(`"test-world-3"`), 1)
			h := sha256.Sum256(l.Policy)
			l.SHA256 = hexOf(h[:])
		}, bundle.ErrPolicy},
		{"successor dropped", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies = f.Bundle.Policies[:1]
		}, bundle.ErrAudit},
		{"successor first", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Policies = f.Bundle.Policies[1:]
		}, bundle.ErrPolicy},
		{"change removed from the log, re-signed by the enclave key", "carol", func(t *testing.T, f *bundletest.Fixture) {
			es, _ := f.Log.Entries()
			f.Checkpoint(t, relog(slices.DeleteFunc(es, func(e audit.Entry) bool { return e.Action == "policy-successor" })))
		}, bundle.ErrAudit},
		{"change logged before a run of the first policy, re-signed by the enclave key", "carol", func(t *testing.T, f *bundletest.Fixture) {
			es, _ := f.Log.Entries()
			es[4], es[5] = es[5], es[4]
			f.Checkpoint(t, relog(es))
		}, bundle.ErrReceipt},
		{"readable receipt of the successor withheld", "carol", func(_ *testing.T, f *bundletest.Fixture) {
			d, _ := receipt.Digest(&f.Bundle.Receipts[1])
			f.Bundle.Withheld = append(f.Bundle.Withheld, hexOf(d[:]))
			f.Bundle.Receipts = append(f.Bundle.Receipts[:1], f.Bundle.Receipts[2])
		}, bundle.ErrReceipt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bundletest.NewSuccessor(t, tc.exporter)
			tc.tamper(t, f)
			f.Resign(t)
			_, err := parseVerify(f, f.Bytes)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("untouched bundle: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// relog chains entries anew, keeping their times and content, as one
// holding the enclave key could.
func relog(es []audit.Entry) []audit.Entry {
	var at time.Time
	l := &audit.Log{Now: func() time.Time { return at }}
	for _, e := range es {
		at = e.Time
		l.Append(audit.Entry{Principal: e.Principal, Action: e.Action, Path: e.Path, Hashes: e.Hashes, Outcome: e.Outcome})
	}
	out, _ := l.Entries()
	return out
}

// fold makes f's bundle what an enclave whose log folded away its first
// k entries exports: the entries from k, a checkpoint stating where they
// start, what they follow and the policy then in force (base), signed
// with the enclave key, and only the receipts the kept entries name.
func fold(t *testing.T, f *bundletest.Fixture, k int, base string) {
	t.Helper()
	es := f.Bundle.Audit.Entries
	kept := es[k:]
	cp := *f.Bundle.Audit.Checkpoint
	cp.From, cp.Prev, cp.BasePolicy, cp.Signature = uint64(k), es[k-1].Hash, base, nil
	d := audit.CheckpointDigest(&cp)
	sig, err := ecdsa.SignASN1(rand.Reader, f.Key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	cp.Signature = sig
	named := map[string]bool{}
	for _, e := range kept {
		if (e.Action == "run" || e.Action == "pipeline") && len(e.Hashes) == 2 {
			named[e.Hashes[1]] = true
		}
	}
	var rs []receipt.Receipt
	for _, rc := range f.Bundle.Receipts {
		if d, _ := receipt.Digest(&rc); named[hexOf(d[:])] {
			rs = append(rs, rc)
		}
	}
	var wh []string
	for _, w := range f.Bundle.Withheld {
		if named[w] {
			wh = append(wh, w)
		}
	}
	f.Bundle.Audit = api.AuditLog{Entries: kept, Head: cp.Head, Checkpoint: &cp}
	f.Bundle.Receipts, f.Bundle.Withheld = append([]receipt.Receipt{}, rs...), append([]string{}, wh...)
}

// TestFoldedLog: a bundle of a log whose oldest entries were folded away
// still proves what it holds: the kept entries chain to the folded ones
// by the hash the enclave's checkpoint states, runs are matched to the
// policy in force (the change of policy itself folded away, its approvals
// still in the chain), and the checkpoint's statements cannot be changed.
func TestFoldedLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    int
		base func(f *bundletest.Fixture) string
		edit func(t *testing.T, f *bundletest.Fixture)
		want error
	}{
		{"before the change", 4, func(f *bundletest.Fixture) string { return f.Policies[0].HashHex() }, nil, nil},
		{"change folded away", 6, func(f *bundletest.Fixture) string { return f.Policies[1].HashHex() }, nil, nil},
		{"wrong base policy", 6, func(f *bundletest.Fixture) string { return f.Policies[0].HashHex() }, nil, bundle.ErrAudit},
		{"unknown base policy", 6, func(f *bundletest.Fixture) string { return hexOf(make([]byte, 32)) }, nil, bundle.ErrAudit},
		{"first kept entry dropped", 6, func(f *bundletest.Fixture) string { return f.Policies[1].HashHex() }, func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Audit.Entries = f.Bundle.Audit.Entries[1:]
		}, bundle.ErrAudit},
		{"kept run's receipt dropped", 6, func(f *bundletest.Fixture) string { return f.Policies[1].HashHex() }, func(_ *testing.T, f *bundletest.Fixture) {
			f.Bundle.Receipts = f.Bundle.Receipts[1:]
		}, bundle.ErrReceipt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bundletest.NewSuccessor(t, "carol")
			fold(t, f, tc.k, tc.base(f))
			if tc.edit != nil {
				tc.edit(t, f)
			}
			f.Resign(t)
			rep, err := parseVerify(f, f.Bytes)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checkpoint.From != uint64(tc.k) || len(rep.Entries) != 9-tc.k {
				t.Fatalf("report: from %d, %d entries", rep.Checkpoint.From, len(rep.Entries))
			}
			for _, r := range rep.Runs {
				if want := 0; r.Entry.Seq > 5 && r.Policy != 1 || r.Entry.Seq < 5 && r.Policy != want {
					t.Fatalf("run at entry %d under policy %d", r.Entry.Seq, r.Policy)
				}
			}
			if tc.k > 5 && rep.Chain[1].Seq != -1 {
				t.Fatalf("the folded change is placed at entry %d", rep.Chain[1].Seq)
			}
		})
	}
}

// cut makes f's bundle an export made when the log held only its first n
// entries.
func cut(t *testing.T, f *bundletest.Fixture, n int) {
	t.Helper()
	es := f.Bundle.Audit.Entries[:n]
	cp := *f.Bundle.Audit.Checkpoint
	cp.Size, cp.Total, cp.Head, cp.PolicyHash, cp.Signature = uint64(n), uint64(n), es[n-1].Hash, f.Policies[0].HashHex(), nil
	d := audit.CheckpointDigest(&cp)
	cp.Signature, _ = ecdsa.SignASN1(rand.Reader, f.Key, d[:])
	named := map[string]bool{}
	for _, e := range es {
		if (e.Action == "run" || e.Action == "pipeline") && len(e.Hashes) == 2 {
			named[e.Hashes[1]] = true
		}
	}
	rs, wh := []receipt.Receipt{}, []string{}
	for _, rc := range f.Bundle.Receipts {
		if d, _ := receipt.Digest(&rc); named[hexOf(d[:])] {
			rs = append(rs, rc)
		}
	}
	for _, w := range f.Bundle.Withheld {
		if named[w] {
			wh = append(wh, w)
		}
	}
	f.Bundle.Audit = api.AuditLog{Entries: es, Head: cp.Head, Checkpoint: &cp}
	f.Bundle.Receipts, f.Bundle.Withheld = rs, wh
	f.Bundle.Policies = f.Bundle.Policies[:1]
}

// TestFollows: two exports of one enclave link into one log when the
// later one starts no later than the earlier one ends, even after the
// enclave folded the older entries away; a gap, another enclave or
// reports given the wrong way round are refused.
func TestFollows(t *testing.T) {
	base := bundletest.NewSuccessor(t, "carol")
	report := func(edit func(f *bundletest.Fixture)) *bundle.Report {
		t.Helper()
		f := *base
		b := *base.Bundle
		f.Bundle = &b
		edit(&f)
		f.Resign(t)
		rep, err := parseVerify(&f, f.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	earlier := report(func(f *bundletest.Fixture) { cut(t, f, 5) })
	for _, tc := range []struct {
		name  string
		later func(f *bundletest.Fixture)
		other bool
		swap  bool
		ok    bool
	}{
		{"whole log", func(*bundletest.Fixture) {}, false, false, true},
		{"folded up to the earlier's end", func(f *bundletest.Fixture) { fold(t, f, 5, f.Policies[0].HashHex()) }, false, false, true},
		{"folded inside the earlier", func(f *bundletest.Fixture) { fold(t, f, 3, f.Policies[0].HashHex()) }, false, false, true},
		{"gap", func(f *bundletest.Fixture) { fold(t, f, 6, f.Policies[1].HashHex()) }, false, false, false},
		{"wrong way round", func(*bundletest.Fixture) {}, false, true, false},
		{"another enclave", nil, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var later *bundle.Report
			if tc.other {
				o := bundletest.NewSuccessor(t, "carol")
				rep, err := parseVerify(o, o.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				later = rep
			} else {
				later = report(tc.later)
			}
			a, b := earlier, later
			if tc.swap {
				a, b = b, a
			}
			err := bundle.Follows(a, b)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, bundle.ErrLink) {
				t.Fatalf("Follows = %v", err)
			}
		})
	}
}
