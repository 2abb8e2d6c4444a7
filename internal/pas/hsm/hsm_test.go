package hsm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/hsm"
	"github.com/truce-project/truce/internal/pas/pastest"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSM makes a fresh SoftHSM token for the test and returns the config
// naming key label key in it. It skips where SoftHSM is not installed.
func softHSM(t *testing.T, key string) hsm.Config {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skip("SoftHSM not installed (apt-get install softhsm2): PKCS#11 keys untested here")
	}
	if _, err := os.Stat(softhsmModule); err != nil {
		t.Skip("SoftHSM's PKCS#11 module is not at " + softhsmModule)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", "truce-test", "--pin", "1234", "--so-pin", "5678").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	return hsm.Config{Module: softhsmModule, Token: "truce-test", PIN: "1234", Key: key}
}

// TestCAKeyInHSM: a service whose CA key lives in a PKCS#11 token issues
// certificates that chain to its CA, and writes no key file.
func TestCAKeyInHSM(t *testing.T) {
	cfg := softHSM(t, "pas-ca")
	// (Before any session logs in: PKCS#11 logins are per token and process.)
	if _, err := hsm.Open(hsm.Config{Module: cfg.Module, Token: cfg.Token, PIN: "0000", Key: cfg.Key}); err == nil || errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("a wrong PIN: %v", err)
	}
	if _, err := hsm.Open(cfg); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("Open before Generate: %v, want ErrNoKey", err)
	}
	key, err := hsm.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	if _, err := hsm.Generate(cfg); err == nil {
		t.Fatal("a second key with the same label was made")
	}
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.InitWithKey(dir, nil, time.Now(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, pas.CAKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a CA key file was written: %v", err)
	}
	// Without the HSM key the service cannot start.
	if _, err := pas.Open(pas.Config{Dir: dir}); err == nil {
		t.Fatal("opened without the CA key")
	}
	// Another key in the token is not the CA's.
	other, err := hsm.Generate(hsm.Config{Module: cfg.Module, Token: cfg.Token, PIN: cfg.PIN, Key: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := pas.Open(pas.Config{Dir: dir, CAKey: other}); err == nil {
		t.Fatal("opened with a key that is not the CA's")
	}

	// A second session finds the key by its label, as a restart would.
	again, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	srv := pastest.Start(t, pastest.Options{Dir: dir, Config: pas.Config{CAKey: again}})
	_, chain, err := srv.Attest(context.Background(), srv.Provider(meas), srv.PolicyBytes(t, meas))
	if err != nil {
		t.Fatal(err)
	}
	if err := chain[0].CheckSignatureFrom(srv.CA()); err != nil {
		t.Fatalf("certificate not signed by the CA in the token: %v", err)
	}
	if n, err := pas.VerifyLog(dir); n != 1 || err != nil {
		t.Fatalf("VerifyLog = %d, %v", n, err)
	}
}

var meas = make([]byte, 32)
