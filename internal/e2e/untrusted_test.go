package e2e

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/trucetest/hosttest"
)

// TestUntrustedMeasurementSendsNothing: an enclave whose certificate names
// a measurement the policy does not list (as a compromised attestation
// service might certify) is refused by the real CLI before it sends
// anything. The enclave is a recording fake behind a real host relay, so
// that what reached it can be counted: no request, and no more bytes than a
// ClientHello and an alert.
func TestUntrustedMeasurementSendsNothing(t *testing.T) {
	w := trucetest.NewWorld(t, trucetest.WorldOptions{Principals: map[string]map[string]string{"alice": {"/input/": "w"}}})
	other := make([]byte, 32)
	rand.Read(other)
	var requests atomic.Int64
	rec := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/v1/policy" {
			rw.Write(w.Policy.Bytes())
		}
	})
	h, err := host.New(host.Config{
		Enclaves: []host.Enclave{{Policy: w.Policy}},
		PAS:      &hosttest.FakePAS{W: w, T: t, Measurement: other},
		Launcher: &hosttest.FakeLauncher{W: w, Handler: rec},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("host not ready")
	}

	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.json")
	os.WriteFile(pf, w.Policy.Bytes(), 0o644)
	cf, kf, err := w.IDs["alice"].Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "secret.dat")
	os.WriteFile(data, []byte("must never leave"), 0o644)
	env := []string{"TRUCE_POLICY=" + pf, "TRUCE_IDENTITY=" + cf, "TRUCE_KEY=" + kf}
	_, errOut, code := truce(t, env, nil, "put", "--addr", ln.Addr().String(), data, "/input/secret.dat")
	if code != 1 || !strings.Contains(errOut, "measurement not trusted") || !strings.Contains(errOut, "nothing was sent") {
		t.Fatalf("put to an untrusted enclave: exit %d, %s", code, errOut)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the untrusted enclave", n)
	}
	// What the host relayed to the enclave: the ClientHello (about 1.5 KiB
	// with a post-quantum key share) and an alert, never the client's
	// certificate flight or a request carrying the file.
	m := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	re := regexp.MustCompile(`truce_host_relayed_bytes_total\{direction="to_enclave",enclave="[^"]+"\} (\S+)`)
	sub := re.FindStringSubmatch(m.Body.String())
	if sub == nil {
		t.Fatalf("no relayed bytes metric:\n%s", m.Body.String())
	}
	n, _ := strconv.ParseFloat(sub[1], 64)
	if n == 0 || n > 2048 {
		t.Fatalf("%v bytes relayed to the untrusted enclave", n)
	}
}
