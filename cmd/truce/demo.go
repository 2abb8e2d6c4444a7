package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	shamirlib "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// demoSecret is what the three data owners share between them.
const demoSecret = "The meeting is at noon under the old oak."

func init() {
	var keep string
	var timeout time.Duration
	register(&command{
		name:    "demo",
		args:    "[--keep DIR]",
		summary: "run the whole story locally: attestation, uploads, a run, a receipt",
		help: `Runs Truce end to end on this machine, on the simulated platform, in a
temporary directory, narrating each step: identities for three data owners
(alice, bob, carol), a program owner (oscar) and a result reader (dave); an
attestation service (truce pas serve, a child process); a policy pinning the
Shamir program and the runtime's measurement; a host (truce host serve, a
child process) starting the runtime (truce runtime, its child); then the
attestation checks, the three uploads of Shamir shares of a secret, the run,
the result, and the check of the run's signed receipt.

Everything is cleaned up at the end, also on Ctrl-C. With --keep DIR the
files (identities, policy, attestation service, logs) are kept in DIR to
explore with the other commands afterwards.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&keep, "keep", "", "keep the demo's files in `DIR` (created; must not exist or be empty)")
			fs.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, timeout)
			defer cancel()
			d := &demo{e: e, ctx: ctx}
			err := d.run(keep)
			if ctx.Err() != nil && e.ctx.Err() != nil {
				return withHint(errors.New("interrupted; everything the demo started is stopped"), "run \"truce demo\" again")
			}
			return err
		},
	})
}

type demo struct {
	e    *env
	ctx  context.Context
	dir  string
	step int

	mu    sync.Mutex
	procs []*exec.Cmd
	waits []procWait
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.e.stdout, "   "+format+"\n", a...)
}

func (d *demo) title(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.e.stdout, "\n%d. %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) run(keep string) (err error) {
	if keep != "" {
		if err := os.MkdirAll(keep, 0o700); err != nil {
			return withHint(fmt.Errorf("--keep: %w", err), "give a directory that can be created")
		}
		if ents, _ := os.ReadDir(keep); len(ents) > 0 {
			return withHint(fmt.Errorf("--keep %s is not empty", keep), "give a new or empty directory")
		}
		d.dir = keep
	} else {
		dir, err := os.MkdirTemp("", "truce-demo-")
		if err != nil {
			return fmt.Errorf("making the demo's directory: %w", err)
		}
		d.dir = dir
		defer os.RemoveAll(dir)
	}
	defer d.stopAll()
	start := time.Now()

	fmt.Fprintf(d.e.stdout, "Truce demo: three people combine secret shares in an enclave none of them\n(nor the machine's operator) can look into. Working in %s\n", d.dir)

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
	pasDir := filepath.Join(d.dir, "pas")
	if err := pas.Init(pasDir, nil); err != nil {
		return fmt.Errorf("initialising the attestation service: %w", err)
	}
	addrFile := filepath.Join(d.dir, "pas.addr")
	if _, err := d.start("pas", nil, "pas", "serve", "--dir", pasDir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile); err != nil {
		return err
	}
	pasAddr, err := d.waitFile(addrFile, 30*time.Second)
	if err != nil {
		return fmt.Errorf("the attestation service did not start: %w (see %s)", err, filepath.Join(d.dir, "pas.log"))
	}
	pasURL := "https://" + pasAddr
	caPEM, err := os.ReadFile(filepath.Join(pasDir, pas.CACertFile))
	if err != nil {
		return err
	}
	d.say("\"truce pas serve\" runs at %s with its own CA (%s).", pasURL, filepath.Join(pasDir, pas.CACertFile))
	d.say("It checks an enclave's evidence and certifies the enclave's TLS key. This demo lets it")
	d.say("accept the SIMULATED platform (a software device key); on real hardware the evidence")
	d.say("would be signed by the CPU vendor's keys instead.")

	// 3. Policy.
	d.title("Policy")
	measurement, err := sim.MeasureSelf()
	if err != nil {
		return fmt.Errorf("measuring the runtime: %w", err)
	}
	hostAddr, err := freeAddr()
	if err != nil {
		return err
	}
	polBytes, err := demoPolicy(ids, hostAddr, pasURL, caPEM, measurement)
	if err != nil {
		return err
	}
	pol, err := policy.Parse(polBytes, time.Now())
	if err != nil {
		return fmt.Errorf("the demo made an invalid policy: %w", err)
	}
	polFile := filepath.Join(d.dir, "policy.json")
	if err := os.WriteFile(polFile, polBytes, 0o644); err != nil {
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
		return clientError(err)
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
	shares, err := shamirlib.Split([]byte(demoSecret), 3, 3, rand.Reader)
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
		return clientError(err)
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
		return clientError(err)
	}
	d.say("The enclave ran %s in its WebAssembly sandbox: %s, exit code %d, it said %q.", rr.Program, rr.Outcome, rr.ExitCode, strings.TrimSpace(string(rr.Stdout)))
	rb, _ := json.MarshalIndent(rr, "", "  ")
	receiptFile := filepath.Join(d.dir, "receipt.json")
	if err := os.WriteFile(receiptFile, rb, 0o644); err != nil {
		return err
	}

	// 10. Result.
	d.title("dave reads the result")
	var out bytes.Buffer
	fi, err := dave.Get(d.ctx, "/output/shamir.dat", &out)
	if err != nil {
		return clientError(err)
	}
	if out.String() != demoSecret {
		return fmt.Errorf("the enclave's result %q is not the secret", out.String())
	}
	d.say("/output/shamir.dat (%d bytes, sha256 %s…):", fi.Size, fi.SHA256[:16])
	fmt.Fprintf(d.e.stdout, "\n   secret: %s\n\n", out.String())

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
		return clientError(err)
	}
	if err := audit.VerifySegment(l.Entries, l.Checkpoint.From, l.Checkpoint.Prev); err != nil {
		return fmt.Errorf("the audit log does not verify: %w", err)
	}
	d.say("%d entries, hash-chained (head %s…), including bob's refused read:", len(l.Entries), l.Head[:16])
	for _, en := range l.Entries {
		d.say("  %-6s %-9s %-24s %s", en.Principal, en.Action, en.Path, en.Outcome)
	}

	// 13. Shutdown.
	d.title("dave shuts the enclave down")
	if err := dave.Shutdown(d.ctx); err != nil {
		return clientError(err)
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

	fmt.Fprintf(d.e.stdout, "\nDone in %.1fs.", time.Since(start).Seconds())
	if keep != "" {
		fmt.Fprintf(d.e.stdout, " The files are in %s; to explore, start the services again:\n", d.dir)
		fmt.Fprintf(d.e.stdout, "  truce pas serve --dir %s --listen %s --allow-sim &\n", pasDir, pasAddr)
		fmt.Fprintf(d.e.stdout, "  truce host serve --policy %s --sim-device-key %s &\n", polFile, filepath.Join(pasDir, pas.DeviceKeyFile))
		fmt.Fprintf(d.e.stdout, "  export TRUCE_POLICY=%s TRUCE_IDENTITY=%s TRUCE_KEY=%s\n", polFile, filepath.Join(d.dir, "dave.crt"), filepath.Join(d.dir, "dave.key"))
		fmt.Fprintf(d.e.stdout, "  truce attest\n")
	} else {
		fmt.Fprintf(d.e.stdout, " Everything was removed (keep it with --keep DIR).\n")
	}
	return nil
}

func (d *demo) upload(pol *policy.Policy, id *identity.Identity, path string, data []byte) error {
	s, err := client.Dial(d.ctx, pol, id)
	if err != nil {
		return clientError(err)
	}
	defer s.Close()
	if _, err := s.Put(d.ctx, path, bytes.NewReader(data)); err != nil {
		return clientError(fmt.Errorf("%s writing %s: %w", id.Name, path, err))
	}
	return nil
}

// demoPolicy writes the demo's policy.
func demoPolicy(ids map[string]*identity.Identity, hostAddr, pasURL string, caPEM, measurement []byte) ([]byte, error) {
	caps := map[string]map[string]string{
		"alice": {"/input/shamir-0.dat": "w"},
		"bob":   {"/input/shamir-1.dat": "w"},
		"carol": {"/input/shamir-2.dat": "w"},
		"oscar": {shamir.Path: "w"},
		"dave":  {shamir.Path: "x", "/output/": "r"},
	}
	var principals []any
	for _, n := range []string{"alice", "bob", "carol", "oscar", "dave"} {
		principals = append(principals, map[string]any{"name": n, "cert": string(ids[n].CertPEM()), "capabilities": caps[n]})
	}
	sum := sha256.Sum256(shamir.Wasm)
	doc := map[string]any{
		"version": 1,
		"name":    "shamir-demo",
		"expires": time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339),
		"host":    hostAddr,
		"attestation": map[string]any{
			"service":  pasURL,
			"ca_cert":  string(caPEM),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(measurement)}},
		},
		"principals": principals,
		"programs": []any{map[string]any{
			"path": shamir.Path, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/input/shamir-0.dat": "r", "/input/shamir-1.dat": "r", "/input/shamir-2.dat": "r", "/output/": "w"},
		}},
		"limits": map[string]any{"memory_mib": 256, "exec_seconds": 60},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs this executable as a child ("truce ARGS…"), its stderr and
// stdout logged to DIR/NAME.log and each stdout line also given to onLine.
func (d *demo) start(name string, onLine func(string), args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the truce executable: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "truce"
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting truce %s: %w", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
	}()
	waited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(waited) }()
	d.mu.Lock()
	d.procs = append(d.procs, cmd)
	d.waits = append(d.waits, procWait{name, waited})
	d.mu.Unlock()
	return cmd, nil
}

type procWait struct {
	name string
	done chan struct{}
}

// waitExit waits for the child called name to exit; it must exit 0.
func (d *demo) waitExit(name string, timeout time.Duration) error {
	d.mu.Lock()
	var pw procWait
	var cmd *exec.Cmd
	for i, w := range d.waits {
		if w.name == name {
			pw, cmd = w, d.procs[i]
		}
	}
	d.mu.Unlock()
	if pw.done == nil {
		return fmt.Errorf("no process %s", name)
	}
	select {
	case <-pw.done:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("truce %s exited with code %d (see %s)", name, code, filepath.Join(d.dir, name+".log"))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("truce %s did not exit", name)
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// stopAll interrupts every child still running, newest first, and kills
// those that do not stop within five seconds.
func (d *demo) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.procs) - 1; i >= 0; i-- {
		w := d.waits[i]
		select {
		case <-w.done:
			continue
		default:
		}
		d.procs[i].Process.Signal(os.Interrupt)
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			d.procs[i].Process.Kill()
			<-w.done
		}
	}
}

// waitFile waits for file to hold a line, and returns it.
func (d *demo) waitFile(file string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(file); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not written within %v", file, timeout)
		}
		select {
		case <-d.ctx.Done():
			return "", d.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
