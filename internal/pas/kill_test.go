package pas_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// childEnv names the service directory when the test binary runs as a
// service child (see TestKillMidLoad).
const childEnv = "TRUCE_PAS_TEST_CHILD_DIR"

// childDBEnv names the child's database (Config.Database).
const childDBEnv = "TRUCE_PAS_TEST_CHILD_DB"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(serveChild(dir, os.Getenv(childDBEnv)))
	}
	os.Exit(m.Run())
}

func serveChild(dir, database string) int {
	// The load comes from one anonymous loopback address: no rate limit.
	s, err := pas.Open(pas.Config{Dir: dir, AllowSim: true, Database: database,
		AnonymousRate: 1e6, AnonymousBurst: 1e6, AnonymousTotalRate: 1e6})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tc, err := s.TLSConfig([]string{"127.0.0.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("URL https://%s\n", ln.Addr())
	hs := &http.Server{Handler: s.Handler(), TLSConfig: tc}
	fmt.Fprintln(os.Stderr, hs.ServeTLS(ln, "", ""))
	return 1
}

// startChild runs the service of dir on database in a child process and
// returns its URL and the process.
func startChild(t *testing.T, dir, database string) (string, *exec.Cmd) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childDBEnv+"="+database)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "URL ") {
		t.Fatalf("child said %q (%v)", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "URL ")), cmd
}

// TestKillMidLoad runs the service as a child process, kills it with
// SIGKILL while parallel clients attest, and checks that every certificate
// a client received is in the log and the log verifies.
func TestKillMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	url, cmd := startChild(t, dir, "")

	ca, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := paswire.ParseChainPEM(ca)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := simprovider.LoadDevice(filepath.Join(dir, pas.DeviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	polBytes := attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: ca, Service: url,
		Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: meas}}})
	client := &paswire.Client{URL: url, CA: caCert[0]}
	prov := simprovider.NewProvider(dev, meas)

	const workers, killAfter = 16, 120
	var (
		mu       sync.Mutex
		received [][]byte
		count    atomic.Int64
		wg       sync.WaitGroup
		ctx      = context.Background()
	)
	for range workers {
		wg.Go(func() {
			for count.Load() < 100000 {
				n, err := client.Nonce(ctx)
				if err != nil {
					return
				}
				req, err := paswire.NewRequest(ctx, prov, newKey(t), polBytes, n, nil)
				if err != nil {
					return
				}
				chain, err := client.Attest(ctx, req)
				if err != nil {
					return
				}
				mu.Lock()
				received = append(received, chain[0].Raw)
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < killAfter && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(received) < killAfter {
		t.Fatalf("only %d attestations before the kill", len(received))
	}

	n, err := pas.VerifyLog(dir)
	if err != nil {
		t.Fatalf("log after SIGKILL: %v", err)
	}
	logged := map[string]bool{}
	if err := pas.ReadLog(dir, func(e pas.Entry) error { logged[string(e.Cert)] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, der := range received {
		if !logged[string(der)] {
			t.Fatalf("certificate %d received by a client is not in the log", i)
		}
	}
	t.Logf("killed after %d certificates received; %d logged", len(received), n)
	if n < len(received) {
		t.Fatalf("%d logged < %d received", n, len(received))
	}
	// The restarted service extends the same log.
	s, err := pas.Open(pas.Config{Dir: dir, AllowSim: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seq, _ := s.Log().Head(); seq != int64(n) {
		t.Fatalf("reopened log has %d entries, want %d", seq, n)
	}
	if !bytes.Equal(s.CACert().Raw, caCert[0].Raw) {
		t.Fatal("CA changed")
	}
}
