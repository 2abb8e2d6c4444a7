package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"maps"
	"math/big"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/policy"
)

func TestReportDataFormat(t *testing.T) {
	spki := []byte("spki bytes")
	ph := [32]byte{1, 2, 3}
	nonce := bytes.Repeat([]byte{9}, 32)
	k := sha256.Sum256(spki)
	var buf []byte
	buf = append(buf, "truce-attest-v1"...)
	buf = append(buf, k[:]...)
	buf = append(buf, ph[:]...)
	buf = append(buf, 0, 0, 0, 32)
	buf = append(buf, nonce...)
	if got, want := attest.ReportData(spki, ph, nonce), sha512.Sum512(buf); got != want {
		t.Fatalf("ReportData = %x, want %x", got, want)
	}
}

func TestReportDataDistinct(t *testing.T) {
	base := attest.ReportData([]byte("k"), [32]byte{1}, []byte("nonce"))
	if base != attest.ReportData([]byte("k"), [32]byte{1}, []byte("nonce")) {
		t.Fatal("not deterministic")
	}
	for _, tc := range []struct {
		name  string
		spki  []byte
		ph    [32]byte
		nonce []byte
	}{
		{"other key", []byte("K"), [32]byte{1}, []byte("nonce")},
		{"other policy", []byte("k"), [32]byte{2}, []byte("nonce")},
		{"other nonce", []byte("k"), [32]byte{1}, []byte("noncf")},
		{"longer nonce", []byte("k"), [32]byte{1}, []byte("nonce\x00")},
		{"empty nonce", []byte("k"), [32]byte{1}, nil},
	} {
		if attest.ReportData(tc.spki, tc.ph, tc.nonce) == base {
			t.Errorf("%s: same report data", tc.name)
		}
	}
}

func TestIdentityExtensionRoundTrip(t *testing.T) {
	for _, id := range []attest.Identity{
		{Platform: "sim", Measurement: bytes.Repeat([]byte{0xab}, 32), PolicyHash: [32]byte{7}, Simulated: true},
		{Platform: "nitro", Measurement: bytes.Repeat([]byte{0x01}, 48), PolicyHash: [32]byte{0xff}},
		{Platform: "snp", Measurement: bytes.Repeat([]byte{0x02}, 48), TCB: map[string]int{"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}},
	} {
		ext, err := id.Extension()
		if err != nil {
			t.Fatal(err)
		}
		if !ext.Id.Equal(attest.ExtensionOID) || ext.Critical {
			t.Fatalf("extension %v critical=%v", ext.Id, ext.Critical)
		}
		ca := attesttest.NewCA(t)
		leaf := issue(t, ca, leafOpts{exts: []pkix.Extension{ext}})
		got, err := attest.IdentityOf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if got.Platform != id.Platform || !bytes.Equal(got.Measurement, id.Measurement) ||
			got.PolicyHash != id.PolicyHash || got.Simulated != id.Simulated || !maps.Equal(got.TCB, id.TCB) {
			t.Fatalf("round trip: got %+v, want %+v", got, id)
		}
	}
	if _, err := (attest.Identity{Platform: "sim"}).Extension(); err == nil {
		t.Fatal("encoded an identity without a measurement")
	}
}

func TestOIDMatchesUUID(t *testing.T) {
	// The 1.2.840.113556.1.8000.2554 arcs are the UUID's hex digits split
	// 4-4-4-4-4-6-6; the 2.25 arc is the same UUID as one integer.
	uuid, _ := new(big.Int).SetString("5beafa2a8fa649d4a9105b5333a75c9c", 16)
	if uuid.String() != attest.UUIDOID[len("2.25."):] {
		t.Fatalf("UUIDOID %s does not match the UUID (%s)", attest.UUIDOID, uuid)
	}
	hexs := "5beafa2a8fa649d4a9105b5333a75c9c"
	var arcs []int
	for _, n := range []int{4, 4, 4, 4, 4, 6, 6} {
		v, _ := new(big.Int).SetString(hexs[:n], 16)
		arcs = append(arcs, int(v.Int64()))
		hexs = hexs[n:]
	}
	want := append(asn1.ObjectIdentifier{1, 2, 840, 113556, 1, 8000, 2554}, arcs...)
	if !want.Equal(attest.ExtensionOID) {
		t.Fatalf("ExtensionOID %v, want %v", attest.ExtensionOID, want)
	}
}

func TestParseIdentityRefuses(t *testing.T) {
	type raw struct {
		Version     int
		Platform    string `asn1:"utf8"`
		Measurement []byte
		PolicyHash  []byte
		Simulated   bool
	}
	good := raw{1, "sim", []byte{1}, make([]byte, 32), true}
	enc := func(r raw) []byte {
		b, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := attest.ParseIdentity(enc(good)); err != nil {
		t.Fatalf("good identity refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"garbage", []byte{0x30, 0x80}},
		{"trailing", append(enc(good), 0)},
		{"version 2", enc(raw{2, "sim", []byte{1}, make([]byte, 32), true})},
		{"short hash", enc(raw{1, "sim", []byte{1}, make([]byte, 31), true})},
		{"no platform", enc(raw{1, "", []byte{1}, make([]byte, 32), true})},
		{"no measurement", enc(raw{1, "sim", nil, make([]byte, 32), true})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := attest.ParseIdentity(tc.der); !errors.Is(err, attest.ErrNoIdentity) {
				t.Fatalf("got %v, want ErrNoIdentity", err)
			}
		})
	}
}

func FuzzParseIdentity(f *testing.F) {
	ext, _ := attest.Identity{Platform: "sim", Measurement: []byte{1, 2}, Simulated: true}.Extension()
	f.Add(ext.Value)
	ext, _ = attest.Identity{Platform: "snp", Measurement: []byte{1}, TCB: map[string]int{"microcode": 68, "snp": 5}}.Extension()
	f.Add(ext.Value)
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := attest.ParseIdentity(b)
		if err != nil {
			return
		}
		// Whatever parses must encode again and parse to the same thing.
		ext, err := id.Extension()
		if err != nil {
			t.Fatalf("parsed identity %+v does not encode: %v", id, err)
		}
		id2, err := attest.ParseIdentity(ext.Value)
		if err != nil || id2.Platform != id.Platform || !bytes.Equal(id2.Measurement, id.Measurement) ||
			id2.PolicyHash != id.PolicyHash || id2.Simulated != id.Simulated || !maps.Equal(id.TCB, id2.TCB) {
			t.Fatalf("re-encoding changed %+v into %+v (%v)", id, id2, err)
		}
	})
}

type leafOpts struct {
	exts      []pkix.Extension
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage
}

func issue(t testing.TB, ca *attesttest.CA, o leafOpts) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Minute)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(time.Hour)
	}
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: o.notBefore, NotAfter: o.notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: o.eku, ExtraExtensions: o.exts, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdentityOfDuplicate(t *testing.T) {
	ext, _ := attest.Identity{Platform: "sim", Measurement: []byte{1}, Simulated: true}.Extension()
	ca := attesttest.NewCA(t)
	// x509.CreateCertificate refuses duplicate extensions, so check the
	// parsed form directly.
	leaf := issue(t, ca, leafOpts{exts: []pkix.Extension{ext}})
	leaf.Extensions = append(leaf.Extensions, ext)
	if _, err := attest.IdentityOf(leaf); !errors.Is(err, attest.ErrNoIdentity) {
		t.Fatalf("got %v, want ErrNoIdentity", err)
	}
}

func TestCheckEnclave(t *testing.T) {
	ca := attesttest.NewCA(t)
	otherCA := attesttest.NewCA(t)
	simMeas := bytes.Repeat([]byte{0xab}, 32)
	nitroMeas := bytes.Repeat([]byte{0xcd}, 48)
	pol := attesttest.Policy(t, attesttest.PolicyOptions{CACertPEM: ca.PEM(),
		Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: simMeas}, {Platform: "nitro", Measurement: nitroMeas}}})
	hwOnly := attesttest.Policy(t, attesttest.PolicyOptions{CACertPEM: ca.PEM(),
		Runtimes: []attesttest.Runtime{{Platform: "nitro", Measurement: nitroMeas}}})
	ext := func(id attest.Identity) []pkix.Extension {
		e, err := id.Extension()
		if err != nil {
			t.Fatal(err)
		}
		return []pkix.Extension{e}
	}
	simID := attest.Identity{Platform: "sim", Measurement: simMeas, PolicyHash: pol.Hash(), Simulated: true}
	nitroID := attest.Identity{Platform: "nitro", Measurement: nitroMeas, PolicyHash: pol.Hash()}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		chain func() []*x509.Certificate
		pol   *policy.Policy
		at    time.Time
		want  error
	}{
		{name: "sim ok", chain: one(issue(t, ca, leafOpts{exts: ext(simID)}))},
		{name: "nitro ok", chain: one(issue(t, ca, leafOpts{exts: ext(nitroID)}))},
		{name: "empty chain", chain: func() []*x509.Certificate { return nil }, want: attest.ErrBadChain},
		{name: "other CA", chain: one(issue(t, otherCA, leafOpts{exts: ext(simID)})), want: attest.ErrBadChain},
		{name: "expired", chain: one(issue(t, ca, leafOpts{exts: ext(simID)})), at: now.Add(2 * time.Hour), want: attest.ErrBadChain},
		{name: "not yet valid", chain: one(issue(t, ca, leafOpts{exts: ext(simID), notBefore: now.Add(time.Hour), notAfter: now.Add(2 * time.Hour)})), want: attest.ErrBadChain},
		{name: "client cert", chain: one(issue(t, ca, leafOpts{exts: ext(simID), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})), want: attest.ErrBadChain},
		{name: "no identity", chain: one(issue(t, ca, leafOpts{})), want: attest.ErrNoIdentity},
		{name: "other policy", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "sim", Measurement: simMeas, PolicyHash: [32]byte{1}, Simulated: true})})), want: attest.ErrPolicyMismatch},
		{name: "untrusted measurement", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "sim", Measurement: bytes.Repeat([]byte{1}, 32), PolicyHash: pol.Hash(), Simulated: true})})), want: attest.ErrUntrustedMeasurement},
		{name: "measurement of another platform", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "nitro", Measurement: simMeas, PolicyHash: pol.Hash()})})), want: attest.ErrUntrustedMeasurement},
		{name: "sim not marked simulated", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "sim", Measurement: simMeas, PolicyHash: pol.Hash()})})), want: attest.ErrBadChain},
		{name: "simulated under hardware-only policy", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "sim", Measurement: simMeas, PolicyHash: hwOnly.Hash(), Simulated: true})})), pol: hwOnly, want: attest.ErrSimulated},
		{name: "simulated nitro under hardware-only policy", chain: one(issue(t, ca, leafOpts{exts: ext(attest.Identity{Platform: "nitro", Measurement: nitroMeas, PolicyHash: hwOnly.Hash(), Simulated: true})})), pol: hwOnly, want: attest.ErrSimulated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pol
			if tc.pol != nil {
				p = tc.pol
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			id, err := attest.CheckEnclave(tc.chain(), p, at)
			if tc.want == nil {
				if err != nil || id == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := attest.CheckEnclave(one(issue(t, ca, leafOpts{exts: ext(simID)}))(), nil, now); !errors.Is(err, attest.ErrBadChain) {
		t.Fatalf("nil policy: got %v", err)
	}
}

func one(c *x509.Certificate) func() []*x509.Certificate {
	return func() []*x509.Certificate { return []*x509.Certificate{c} }
}
