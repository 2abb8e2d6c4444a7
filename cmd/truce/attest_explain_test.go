package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/identity"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/trucetest"
)

// TestAttestExplain runs "truce attest --explain" against fake enclaves:
// one whose certificate names a measurement the policy does not pin (a
// misissuing or compromised attestation service), and a trusted one whose
// own evidence is checked too.
func TestAttestExplain(t *testing.T) {
	w := trucetest.NewWorld(t, trucetest.WorldOptions{})
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(polFile, w.Policy.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key, err := w.IDs["alice"].Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := simprovider.NewDevice(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	devPub := filepath.Join(dir, "device.pub")
	if err := dev.WritePublic(devPub); err != nil {
		t.Fatal(err)
	}
	// enclave serves the policy and sim evidence binding its certificate's key.
	enclave := func(m []byte) *trucetest.FakeEnclave {
		var fe *trucetest.FakeEnclave
		fe = w.ServeFakeEnclave(t, m, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case api.PathPolicy:
				rw.Write(w.Policy.Bytes())
			case api.PathAttestation:
				nonce := []byte("explain-nonce")
				rd := attest.ReportData(fe.Chain[0].RawSubjectPublicKeyInfo, w.Policy.Hash(), nonce)
				ev, err := simprovider.NewProvider(dev, w.Measurement).Evidence(r.Context(), rd)
				if err != nil {
					http.Error(rw, err.Error(), 500)
					return
				}
				json.NewEncoder(rw).Encode(api.Attestation{Platform: "sim", Evidence: ev, Chain: [][]byte{fe.Chain[0].Raw}, Nonce: nonce})
			default:
				http.NotFound(rw, r)
			}
		}))
		return fe
	}
	explainAs := func(cert, key, addr string, extra ...string) (code int, stdout, stderr string) {
		var out, errb bytes.Buffer
		e := &env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		args := append([]string{"attest", "--explain", "--policy", polFile, "--identity", cert, "--key", key, "--addr", addr}, extra...)
		return run(args, e), out.String(), errb.String()
	}
	explain := func(addr string, extra ...string) (code int, stdout, stderr string) {
		return explainAs(cert, key, addr, extra...)
	}

	t.Run("wrong measurement", func(t *testing.T) {
		wrong := bytes.Repeat([]byte{0xee}, 32)
		fe := enclave(wrong)
		code, out, errOut := explain(fe.Addr, "--device-pub", devPub)
		if code != exitFailure {
			t.Fatalf("exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
		}
		for _, want := range []string{
			"evidence → verifier → certificate → client check",
			"– not fetched: the enclave failed the client check",
			"measurement:  " + hex.EncodeToString(wrong),
			"✓ certificate chains to the PAS CA",
			"✓ policy hash",
			"✓ measurement not revoked",
			"✗ measurement pinned",
			"claim:      sim measurement",
			"expected:   " + hex.EncodeToString(w.Measurement),
			"actual:     " + hex.EncodeToString(wrong),
			"rule:       measurement",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(errOut, "truce: the enclave is not one the policy trusts; nothing was sent: measurement not trusted by the policy: sim measurement: expected "+hex.EncodeToString(w.Measurement)+", got "+hex.EncodeToString(wrong)) ||
			!strings.Contains(errOut, "\nhint: ") {
			t.Errorf("stderr:\n%s", errOut)
		}
		if n := fe.Requests.Load(); n != 0 {
			t.Errorf("%d requests reached the refused enclave", n)
		}
	})

	t.Run("trusted, evidence checked", func(t *testing.T) {
		fe := enclave(nil)
		code, out, errOut := explain(fe.Addr, "--device-pub", devPub)
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{
			"✓ evidence is for this connection: sim evidence",
			"✓ signature and vendor chain",
			"✓ report data binds key, policy and nonce",
			"✓ measurement as in the certificate",
			"✓ measurement pinned: " + hex.EncodeToString(w.Measurement),
			"✓ simulated platform: SIMULATED",
			"The enclave is trusted by this policy.",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "✗") {
			t.Errorf("a step refused:\n%s", out)
		}
	})

	t.Run("trusted, no verifier at hand", func(t *testing.T) {
		fe := enclave(nil)
		code, out, errOut := explain(fe.Addr)
		if code != exitOK || !strings.Contains(out, "– not checked here: --evidence on sim needs the device public key") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("trusted, but not a principal", func(t *testing.T) {
		stranger, err := identity.New("mallory", 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		scert, skey, err := stranger.Write(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fe := enclave(nil)
		code, out, errOut := explainAs(scert, skey, fe.Addr, "--device-pub", devPub)
		if code != exitFailure || !strings.Contains(out, "– not fetched: ") || !strings.Contains(out, "✓ measurement pinned") ||
			!strings.Contains(errOut, "hint: use the certificate and key of a principal") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("evidence from another device", func(t *testing.T) {
		other, err := simprovider.NewDevice(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		otherPub := filepath.Join(t.TempDir(), "other.pub")
		if err := other.WritePublic(otherPub); err != nil {
			t.Fatal(err)
		}
		fe := enclave(nil)
		code, out, errOut := explain(fe.Addr, "--device-pub", otherPub)
		if code != exitFailure || !strings.Contains(out, "✗ signature and vendor chain") || !strings.Contains(out, "rule:       evidence") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
}
