package sgx_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sgx/sgxtest"
)

type pemBlock = pem.Block

func decodePEM(b []byte) (*pem.Block, []byte) { return pem.Decode(b) }

func encodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func signHex(t testing.TB, key *ecdsa.PrivateKey, msg []byte) string {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return hex.EncodeToString(out)
}

// fixtureCollateral is collateral for the fixture platform, signed by its
// test root: TCB info and QE identity shaped as Intel's, current at
// sgxtest.Epoch, for the FMSPC of the real PCK extension the fixture
// carries.
func fixtureCollateral(t testing.TB, p *sgxtest.Platform) *sgx.Collateral {
	t.Helper()
	var real map[string]string
	if err := json.Unmarshal(read(t, "collateral.json"), &real); err != nil {
		t.Fatal(err)
	}
	var tcbResp struct {
		TCBInfo map[string]any `json:"tcbInfo"`
	}
	if err := json.Unmarshal([]byte(real["tcb_info"]), &tcbResp); err != nil {
		t.Fatal(err)
	}
	var qeResp struct {
		QE map[string]any `json:"enclaveIdentity"`
	}
	if err := json.Unmarshal([]byte(real["qe_identity"]), &qeResp); err != nil {
		t.Fatal(err)
	}
	from, to := sgxtest.Epoch.Add(-time.Hour).Format(time.RFC3339), sgxtest.Epoch.Add(time.Hour).Format(time.RFC3339)
	tcbResp.TCBInfo["issueDate"], tcbResp.TCBInfo["nextUpdate"] = from, to
	qeResp.QE["issueDate"], qeResp.QE["nextUpdate"] = from, to
	tcb, _ := json.Marshal(tcbResp.TCBInfo)
	qe, _ := json.Marshal(qeResp.QE)
	chain := string(encodePEM(p.Root.Cert.Raw))
	// The root signs the TCB info directly (Intel uses a TCB signing
	// certificate under its root; the chain check is the same).
	c := &sgx.Collateral{
		TCBInfoIssuerChain: chain, TCBInfo: string(tcb), TCBInfoSignature: signHex(t, p.Root.Key, tcb),
		QEIdentityIssuerChain: chain, QEIdentity: string(qe), QEIdentitySignature: signHex(t, p.Root.Key, qe),
	}
	if !strings.Contains(c.TCBInfo, "00606A000000") {
		t.Fatal(fmt.Sprint("fixture TCB info lost its FMSPC"))
	}
	return c
}
