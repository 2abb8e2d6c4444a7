package demo

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	shamirlib "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// Secret is what the story's three data owners share between them.
const Secret = "The meeting is at noon under the old oak."

// Options configure Run.
type Options struct {
	// Exe is the truce executable, started for the attestation service,
	// the host and (through the host) the runtime. Required.
	Exe string
	// Out receives the narration; nil discards it.
	Out io.Writer
	// Keep, if set, is the directory (created; it must be new or empty)
	// in which the story's files are kept; otherwise they are in a
	// temporary directory removed at the end.
	Keep string
}

// Run tells the story of Truce on this machine, on the simulated
// platform, narrating each step to o.Out: identities for three data owners
// (alice, bob, carol), a program owner (oscar) and a result reader (dave);
// an attestation service and a host (children running o.Exe) and the
// runtime the host starts; a policy pinning the Shamir program and the
// runtime's measurement; the attestation checks, the uploads of Shamir
// shares of Secret, a refused read, the run, the result, the receipt and
// the audit log. Everything it started is stopped when it returns, also
// when ctx ends first. Errors with advice for the user are *hint.Error.
func Run(ctx context.Context, o Options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	d := &demo{children: children{exe: o.Exe, ctx: ctx}, out: o.Out}
	return d.run(o.Keep)
}

type demo struct {
	children
	out  io.Writer
	step int
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "   "+format+"\n", a...)
}

func (d *demo) title(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) run(keep string) error {
	dir, cleanup, err := workDir(keep, "truce-demo-", true)
	if err != nil {
		return err
	}
	defer cleanup()
	d.dir = dir
	defer d.stopAll()
	start := time.Now()

	fmt.Fprintf(d.out, "Truce demo: three people combine secret shares in an enclave none of them\n(nor the machine's operator) can look into. Working in %s\n", d.dir)

	// 1. Identities.
	d.title("Identities")
	names := []string{"alice", "bob", "carol", "oscar", "dave"}
	ids := map[string]*identity.Identity{}
	for _, n := range names {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			return err
		}
		if _, _, err := id.Write(d.dir); err != nil {
			return err
		}
		ids[n] = id
	}
	d.say("alice, bob and carol each hold a share of a secret; oscar owns the program; dave may")
	d.say("run it and read the result. Each made a P-256 key and certificate (%s/NAME.crt, .key).", d.dir)
	d.say("The certificates go into the policy: they are how the enclave will know who is who.")

	// 2. Attestation service.
	d.title("Attestation service (PAS)")
	pasDir, pasURL, caPEM, err := d.startPAS(30 * time.Second)
	if err != nil {
		return err
	}
	pasAddr := strings.TrimPrefix(pasURL, "https://")
	d.say("\"truce pas serve\" runs at %s with its own CA (%s).", pasURL, filepath.Join(pasDir, pas.CACertFile))
	d.say("It checks an enclave's evidence and certifies the enclave's TLS key. This demo lets it")
	d.say("accept the SIMULATED platform (a software device key); on real hardware the evidence")
	d.say("would be signed by the CPU vendor's keys instead.")

	// 3. Policy.
	d.title("Policy")
	measurement, err := sim.MeasureFile(d.exe)
	if err != nil {
		return fmt.Errorf("measuring the runtime: %w", err)
	}
	hostAddr, err := freeAddr()
	if err != nil {
		return err
	}
	polBytes, err := policy.Encode(storyPolicy(ids, hostAddr, pasURL, caPEM, measurement, time.Now()))
	if err != nil {
		return err
	}
	pol, err := policy.Parse(polBytes, time.Now())
	if err != nil {
		return fmt.Errorf("the demo made an invalid policy: %w", err)
	}
	polFile := filepath.Join(d.dir, "policy.json")
	if err := atomicfile.Write(polFile, polBytes, 0o644); err != nil {
		return err
	}
	d.say("Everyone agrees on one file, %s, hash %s.", polFile, pol.HashHex())
	d.say("It pins the PAS CA, the runtime measurement %s…", hex.EncodeToString(measurement)[:16])
	d.say("(SHA-256 of the truce executable), the program by hash %s…,", pol.Program(shamir.Path).SHA256[:16])
	d.say("and who may do what: alice may only write /input/shamir-0.dat, bob shamir-1, carol")
	d.say("shamir-2, oscar the program, dave may run it and read /output/.")

	// 4. Host and enclave.
	d.title("Host and enclave")
	ready := make(chan string, 1)
	if _, err := d.start("host", func(line string) {
		if a, ok := strings.CutPrefix(line, "ready "); ok {
			select {
			case ready <- a:
			default:
			}
		}
	}, "host", "serve", "--policy", polFile, "--platform", "sim", "--listen", hostAddr,
		"--sim-device-key", filepath.Join(pasDir, pas.DeviceKeyFile)); err != nil {
		return err
	}
	select {
	case a := <-ready:
		d.say("\"truce host serve\" listens on %s. It started \"truce runtime\" (the enclave; here", a)
		d.say("a child process), which made a fresh key inside, produced evidence binding that key,")
		d.say("the policy hash and a fresh PAS nonce; the host relayed it to the PAS, which checked it")
		d.say("and certified the key. The host only relays bytes: TLS ends inside the enclave.")
	case <-d.ctx.Done():
		return d.ctx.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("the host was not ready within a minute (see %s)", filepath.Join(d.dir, "host.log"))
	}

	// 5. Attestation check by a client.
	d.title("dave checks the enclave")
	dave, err := client.Dial(d.ctx, pol, ids["dave"])
	if err != nil {
		return err
	}
	defer dave.Close()
	enc, chain := dave.Enclave()
	d.say("dave's client checked, before sending anything, that the enclave's certificate chains")
	d.say("to the PAS CA the policy pins (valid until %s), that its measurement", chain[0].NotAfter.UTC().Format(time.RFC3339))
	d.say("%s is the one the policy pins, that it was issued for", hex.EncodeToString(enc.Measurement))
	d.say("policy %s…, and then that the enclave's copy of the policy is byte for byte his.", hex.EncodeToString(enc.PolicyHash[:])[:16])
	if enc.Simulated {
		d.say("The certificate says SIMULATED: fine for a demo, refused by policies that do not list sim.")
	}

	// 6. Program upload.
	d.title("oscar uploads the program")
	if err := d.upload(pol, ids["oscar"], shamir.Path, shamir.Wasm); err != nil {
		return err
	}
	d.say("%s (%d bytes). The enclave accepted it because its SHA-256 is the one the policy", shamir.Path, len(shamir.Wasm))
	d.say("pins; any other bytes would have been refused.")

	// 7. Shares.
	d.title("alice, bob and carol upload their shares")
	shares, err := shamirlib.Split([]byte(Secret), 3, 3, rand.Reader)
	if err != nil {
		return err
	}
	for i, n := range []string{"alice", "bob", "carol"} {
		p := fmt.Sprintf("/input/shamir-%d.dat", i)
		if err := d.upload(pol, ids[n], p, shares[i]); err != nil {
			return err
		}
		d.say("%-5s → %s (%d bytes; the client checked the enclave first, as dave's did)", n, p, len(shares[i]))
	}
	d.say("Each share alone says nothing about the secret; all three are needed.")

	// 8. A refusal.
	d.title("bob tries to read alice's share")
	bob, err := client.Dial(d.ctx, pol, ids["bob"])
	if err != nil {
		return err
	}
	_, rerr := bob.Get(d.ctx, "/input/shamir-0.dat", io.Discard)
	bob.Close()
	if !errors.Is(rerr, client.ErrForbidden) {
		return fmt.Errorf("bob's read of alice's share was not refused as forbidden: %v", rerr)
	}
	d.say("Refused: %v", rerr)
	d.say("The policy gives bob no right to read it; nothing he could do through the host changes that.")

	// 9. Run.
	d.title("dave runs the program")
	rr, err := dave.Run(d.ctx, shamir.Path)
	if err != nil {
		if rr != nil {
			d.say("the program's stderr: %s", strings.TrimSpace(string(rr.Stderr)))
		}
		return err
	}
	d.say("The enclave ran %s in its WebAssembly sandbox: %s, exit code %d, it said %q.", rr.Program, rr.Outcome, rr.ExitCode, strings.TrimSpace(string(rr.Stdout)))
	rb, _ := json.MarshalIndent(rr, "", "  ")
	receiptFile := filepath.Join(d.dir, "receipt.json")
	if err := atomicfile.Write(receiptFile, rb, 0o644); err != nil {
		return err
	}

	// 10. Result.
	d.title("dave reads the result")
	var out bytes.Buffer
	fi, err := dave.Get(d.ctx, "/output/shamir.dat", &out)
	if err != nil {
		return err
	}
	if out.String() != Secret {
		return fmt.Errorf("the enclave's result %q is not the secret", out.String())
	}
	d.say("/output/shamir.dat (%d bytes, sha256 %s…):", fi.Size, fi.SHA256[:16])
	fmt.Fprintf(d.out, "\n   secret: %s\n\n", out.String())

	// 11. Receipt.
	d.title("dave checks the receipt")
	if err := receipt.Verify(&rr.Receipt, pol, time.Now()); err != nil {
		return fmt.Errorf("the run's receipt does not verify: %w", err)
	}
	// The receipt names files by salted commitments; dave, who read the
	// output, got the salt that opens its commitment.
	if err := receipt.Open(&rr.Receipt, false, "/output/shamir.dat", fi.Salt, bytes.NewReader(out.Bytes())); err != nil {
		return fmt.Errorf("the receipt does not list the output dave read: %w", err)
	}
	d.say("The receipt (%s) is signed by the enclave's key, whose certificate chains to", receiptFile)
	d.say("the PAS CA; it names this policy, the program by hash %s…,", rr.Receipt.ProgramHash[:16])
	for _, in := range rr.Receipt.Inputs {
		d.say("  input  %-22s commitment %s…", in.Path, in.Commitment[:16])
	}
	for _, o := range rr.Receipt.Outputs {
		d.say("  output %-22s commitment %s… (opened by the bytes dave read)", o.Path, o.Commitment[:16])
	}
	d.say("Files are named by salted commitments: only a file's writer and readers get")
	d.say("the salt that opens one, so no one else can test a guess of a share.")
	d.say("Anyone holding the policy can check it offline: truce receipt verify --policy %s %s", polFile, receiptFile)

	// 12. Audit.
	d.title("The enclave's audit log")
	l, err := dave.Audit(d.ctx)
	if err != nil {
		return err
	}
	pub, _ := chain[0].PublicKey.(*ecdsa.PublicKey)
	if _, err := audit.VerifyServed(l.Entries, l.Head, l.Checkpoint, pub); err != nil {
		return fmt.Errorf("the audit log does not verify: %w", err)
	}
	d.say("%d entries, hash-chained (head %s…), including bob's refused read:", len(l.Entries), l.Head[:16])
	for _, en := range l.Entries {
		d.say("  %-6s %-9s %-24s %s", en.Principal, en.Action, en.Path, en.Outcome)
	}

	// 13. Shutdown.
	d.title("dave shuts the enclave down")
	if err := dave.Shutdown(d.ctx); err != nil {
		return err
	}
	if err := d.waitExit("host", 30*time.Second); err != nil {
		return err
	}
	d.say("The runtime wiped its files and key and stopped; the host ended with it.")
	d.stopAll()
	n, err := pas.VerifyLog(pasDir)
	if err != nil {
		return fmt.Errorf("the PAS issuance log does not verify: %w", err)
	}
	d.say("The PAS's issuance log verifies (%d %s): every certificate it issued is on record.", n, plural(n, "entry", "entries"))

	fmt.Fprintf(d.out, "\nDone in %.1fs.", time.Since(start).Seconds())
	if keep != "" {
		fmt.Fprintf(d.out, " The files are in %s; to explore, start the services again:\n", d.dir)
		fmt.Fprintf(d.out, "  truce pas serve --dir %s --listen %s --allow-sim &\n", pasDir, pasAddr)
		fmt.Fprintf(d.out, "  truce host serve --policy %s --sim-device-key %s &\n", polFile, filepath.Join(pasDir, pas.DeviceKeyFile))
		fmt.Fprintf(d.out, "  export TRUCE_POLICY=%s TRUCE_IDENTITY=%s TRUCE_KEY=%s\n", polFile, filepath.Join(d.dir, "dave.crt"), filepath.Join(d.dir, "dave.key"))
		fmt.Fprintf(d.out, "  truce attest\n")
	} else {
		fmt.Fprintf(d.out, " Everything was removed (keep it with --keep DIR).\n")
	}
	return nil
}

func (d *demo) upload(pol *policy.Policy, id *identity.Identity, path string, data []byte) error {
	s, err := client.Dial(d.ctx, pol, id)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Put(d.ctx, path, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%s writing %s: %w", id.Name, path, err)
	}
	return nil
}

// storyPolicy is the story's policy: alice, bob and carol may each write
// one share, oscar the program, which dave may run; dave reads /output/.
func storyPolicy(ids map[string]*identity.Identity, hostAddr, pasURL string, caPEM, measurement []byte, now time.Time) *policy.Policy {
	caps := map[string]capability.Set{
		"alice": {"/input/shamir-0.dat": capability.Write},
		"bob":   {"/input/shamir-1.dat": capability.Write},
		"carol": {"/input/shamir-2.dat": capability.Write},
		"oscar": {shamir.Path: capability.Write},
		"dave":  {shamir.Path: capability.Execute, "/output/": capability.Read},
	}
	var principals []policy.Principal
	for _, n := range []string{"alice", "bob", "carol", "oscar", "dave"} {
		principals = append(principals, policy.Principal{Name: n, Cert: string(ids[n].CertPEM()), Capabilities: caps[n]})
	}
	sum := sha256.Sum256(shamir.Wasm)
	return &policy.Policy{
		Version: policy.Version,
		Name:    "shamir-demo",
		Expires: now.Add(24 * time.Hour).UTC().Truncate(time.Second),
		Host:    hostAddr,
		Attestation: policy.Attestation{
			Service:  pasURL,
			CACert:   string(caPEM),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(measurement)}},
		},
		Principals: principals,
		Programs: []policy.Program{{
			Path: shamir.Path, SHA256: hex.EncodeToString(sum[:]),
			Capabilities: capability.Set{"/input/shamir-0.dat": capability.Read, "/input/shamir-1.dat": capability.Read,
				"/input/shamir-2.dat": capability.Read, "/output/": capability.Write},
		}},
		Limits: policy.Limits{MemoryMiB: 256, ExecSeconds: 60},
	}
}

// plural is one or many, by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
