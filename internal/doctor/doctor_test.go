package doctor_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/internal/doctor"
)

func dev() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600} }
func dir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }
func cpu(flags string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("processor\t: 0\nmodel name\t: test\nflags\t\t: fpu vme " + flags + "\n\n")}
}

// dialer reaches the addresses in up; it counts attempts per address.
type dialer struct {
	up    map[string]bool
	tries map[string]int
}

func (d *dialer) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.tries[addr]++
	if !d.up[addr] {
		return nil, errors.New("connection refused")
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

// want is a check's expected outcome: its name and whether it passes.
type want struct {
	name string
	ok   bool
}

func TestRun(t *testing.T) {
	// The test CA is valid from an hour before the real time; the clock
	// the checks see is an hour into it.
	ca := attesttest.NewCA(t)
	now := ca.Cert.NotBefore.Add(time.Hour)
	pol := attesttest.Policy(t, attesttest.PolicyOptions{CACertPEM: ca.PEM(), Service: "https://pas.example:3010",
		Expires: now.Add(30 * 24 * time.Hour).Truncate(time.Second), Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: make([]byte, 32)}}})
	for _, tc := range []struct {
		name      string
		fs        fstest.MapFS
		platforms []string
		up        []string
		clock     time.Time
		policy    bool
		want      []want
	}{
		{name: "snp guest with configfs-tsm", platforms: []string{"snp"}, up: []string{"kdsintf.amd.com:443"},
			fs:   fstest.MapFS{"sys/kernel/config/tsm/report": dir(), "proc/cpuinfo": cpu("sev sev_es sev_snp")},
			want: []want{{"clock", true}, {"/sys/kernel/config/tsm/report", true}, {"/dev/sev-guest", true}, {"kernel SEV-SNP guest support", true}, {"vendor collateral kdsintf.amd.com:443", true}}},
		{name: "snp guest with the legacy device only", platforms: []string{"snp"},
			fs:   fstest.MapFS{"dev/sev-guest": dev(), "proc/cpuinfo": cpu("sev_snp")},
			want: []want{{"clock", true}, {"/sys/kernel/config/tsm/report", true}, {"/dev/sev-guest", true}, {"kernel SEV-SNP guest support", true}, {"vendor collateral kdsintf.amd.com:443", false}}},
		{name: "plain host checked for snp and tdx", platforms: []string{"snp", "tdx"}, up: []string{"api.trustedservices.intel.com:443"},
			fs: fstest.MapFS{"proc/cpuinfo": cpu("sse2")},
			want: []want{{"clock", true},
				{"/sys/kernel/config/tsm/report", false}, {"/dev/sev-guest", false}, {"kernel SEV-SNP guest support", false}, {"vendor collateral kdsintf.amd.com:443", false},
				{"/sys/kernel/config/tsm/report", false}, {"/dev/tdx_guest", false}, {"kernel TDX guest support", false}, {"vendor collateral api.trustedservices.intel.com:443", true}}},
		{name: "tdx guest", platforms: []string{"tdx"}, up: []string{"api.trustedservices.intel.com:443"},
			fs:   fstest.MapFS{"sys/kernel/config/tsm/report": dir(), "dev/tdx_guest": dev(), "proc/cpuinfo": cpu("tdx_guest")},
			want: []want{{"clock", true}, {"/sys/kernel/config/tsm/report", true}, {"/dev/tdx_guest", true}, {"kernel TDX guest support", true}, {"vendor collateral api.trustedservices.intel.com:443", true}}},
		{name: "inside a nitro enclave", platforms: []string{"nitro"},
			fs:   fstest.MapFS{"dev/nsm": dev(), "dev/vsock": dev()},
			want: []want{{"clock", true}, {"/dev/nsm", true}, {"/dev/vsock", true}, {"/dev/nitro_enclaves", false}}},
		{name: "sgx under gramine", platforms: []string{"sgx"}, up: []string{"api.trustedservices.intel.com:443"},
			fs:   fstest.MapFS{"dev/attestation": dir(), "dev/sgx_enclave": dev()},
			want: []want{{"clock", true}, {"/dev/attestation", true}, {"/dev/sgx_enclave", true}, {"vendor collateral api.trustedservices.intel.com:443", true}}},
		{name: "tdx and sgx share Intel's service, dialled once", platforms: []string{"tdx", "sgx"}, fs: fstest.MapFS{},
			want: []want{{"clock", true},
				{"/sys/kernel/config/tsm/report", false}, {"/dev/tdx_guest", false}, {"kernel TDX guest support", false}, {"vendor collateral api.trustedservices.intel.com:443", false},
				{"/dev/attestation", false}, {"/dev/sgx_enclave", false}, {"vendor collateral api.trustedservices.intel.com:443", false}}},
		{name: "cca realm", platforms: []string{"cca"}, fs: fstest.MapFS{"sys/kernel/config/tsm/report": dir()},
			want: []want{{"clock", true}, {"/sys/kernel/config/tsm/report", true}}},
		{name: "sim and psa need nothing", platforms: []string{"sim", "psa"}, fs: fstest.MapFS{},
			want: []want{{"clock", true}, {"simulated platform", true}, {"PSA attestation", true}}},
		{name: "unknown platform", platforms: []string{"tpm"}, fs: fstest.MapFS{},
			want: []want{{"clock", true}, {"platform", false}}},
		{name: "clock before any valid time", platforms: []string{}, clock: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), fs: fstest.MapFS{},
			want: []want{{"clock", false}}},
		{name: "policy: service reachable", platforms: []string{}, policy: true, up: []string{"pas.example:3010"}, fs: fstest.MapFS{},
			want: []want{{"clock", true}, {"attestation service pas.example:3010", true}}},
		{name: "policy: service down", platforms: []string{}, policy: true, fs: fstest.MapFS{},
			want: []want{{"clock", true}, {"attestation service pas.example:3010", false}}},
		{name: "policy: clock past its expiry", platforms: []string{}, policy: true, clock: now.Add(60 * 24 * time.Hour), up: []string{"pas.example:3010"}, fs: fstest.MapFS{},
			want: []want{{"clock", false}, {"attestation service pas.example:3010", true}}},
		{name: "policy: clock before its CA", platforms: []string{}, policy: true, clock: ca.Cert.NotBefore.Add(-time.Hour), up: []string{"pas.example:3010"}, fs: fstest.MapFS{},
			want: []want{{"clock", false}, {"attestation service pas.example:3010", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dialer{up: map[string]bool{}, tries: map[string]int{}}
			for _, a := range tc.up {
				d.up[a] = true
			}
			clock := tc.clock
			if clock.IsZero() {
				clock = now
			}
			cfg := doctor.Config{FS: tc.fs, Now: func() time.Time { return clock }, Dial: d.dial, Platforms: tc.platforms}
			if tc.policy {
				cfg.Policy = pol
			}
			got := doctor.Run(context.Background(), cfg)
			if len(got) != len(tc.want) {
				t.Fatalf("%d results, want %d:\n%s", len(got), len(tc.want), lines(got))
			}
			for i, w := range tc.want {
				r := got[i]
				if r.Name != w.name || r.OK != w.ok {
					t.Errorf("result %d = %q ok=%v, want %q ok=%v\n%s", i, r.Name, r.OK, w.name, w.ok, lines(got))
				}
				if !r.OK && r.Hint == "" || r.OK && r.Hint != "" || r.Detail == "" {
					t.Errorf("result %q: detail %q, hint %q", r.Name, r.Detail, r.Hint)
				}
				if strings.Contains(r.String(), "\n") {
					t.Errorf("result %q is not one line", r.Name)
				}
			}
			for a, n := range d.tries {
				if n != 1 {
					t.Errorf("%s dialled %d times", a, n)
				}
			}
		})
	}
}

func lines(rs []doctor.Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + r.Platform + " " + r.String() + "\n")
	}
	return b.String()
}
