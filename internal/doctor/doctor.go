// Package doctor checks whether a host can run Truce enclaves of each
// platform: the devices and kernel interfaces a platform's runtime gets
// evidence from, vsock, the clock, and whether the attestation service a
// policy names and the vendors' collateral endpoints can be reached. Each
// check gives one result with a hint saying what to do when it fails.
//
// Everything it touches (file system, clock, network dialer) is injected,
// so that it is tested without hardware. It must never change the host: it
// only looks at files and opens (and closes) TCP connections, and it
// never produces evidence.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/platform"
	"github.com/truce-project/truce/policy"
)

// Config says what the checks may touch. The zero value checks the real
// host: the root file system, the system clock and real TCP connections,
// for every platform, without a policy.
type Config struct {
	// FS is the host's root file system, paths without a leading slash
	// ("dev/nsm"); nil means os.DirFS("/").
	FS fs.FS
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Dial opens TCP connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each connection attempt; zero means 5 seconds.
	Timeout time.Duration
	// Policy, if set, adds checks of its attestation service's
	// reachability and of the clock against its validity.
	Policy *policy.Policy
	// Platforms are the platforms to check; nil means all of
	// platform.Names().
	Platforms []string
}

// Result is the outcome of one check.
type Result struct {
	// Platform is the platform the check is for; "" for the host as a
	// whole.
	Platform string
	// Name says what was checked, such as "/dev/nsm".
	Name string
	// OK is whether the check passed.
	OK bool
	// Detail says what was found.
	Detail string
	// Hint says what to do if the check failed.
	Hint string
}

// String is the result on one line: "✓ name: detail" or "✗ name: detail".
func (r Result) String() string {
	mark := "✓"
	if !r.OK {
		mark = "✗"
	}
	return fmt.Sprintf("%s %s: %s", mark, r.Name, r.Detail)
}

// Collateral endpoints of the vendors, host:port, by platform: where the
// collateral that evidence is checked against is served.
var Collateral = map[string]string{
	"snp": "kdsintf.amd.com:443",               // AMD Key Distribution Service: VCEK certificates, CRLs
	"tdx": "api.trustedservices.intel.com:443", // Intel PCS: TCB info, QE identity, CRLs
	"sgx": "api.trustedservices.intel.com:443", // Intel PCS
}

// configfsTSM is the configfs-tsm report directory, relative to the root.
const configfsTSM = "sys/kernel/config/tsm/report"

// earliest is a time no correct clock is before: when this check was
// written.
var earliest = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Run makes every check and returns the results, host checks first, then
// each platform's in the order of cfg.Platforms (sorted by default).
func Run(ctx context.Context, cfg Config) []Result {
	if cfg.FS == nil {
		cfg.FS = os.DirFS("/")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	if cfg.Platforms == nil {
		cfg.Platforms = platform.Names()
	}
	c := &checker{cfg: cfg, ctx: ctx, dialed: map[string]Result{}}
	c.clock()
	if cfg.Policy != nil {
		c.service()
	}
	for _, p := range cfg.Platforms {
		c.platform(p)
	}
	return c.out
}

type checker struct {
	cfg    Config
	ctx    context.Context
	out    []Result
	dialed map[string]Result // host:port → result, so each is dialled once
}

func (c *checker) add(platform, name string, ok bool, detail, hint string) {
	if ok {
		hint = ""
	}
	c.out = append(c.out, Result{Platform: platform, Name: name, OK: ok, Detail: detail, Hint: hint})
}

func (c *checker) clock() {
	now := c.cfg.Now()
	detail := now.UTC().Format(time.RFC3339)
	switch {
	case now.Before(earliest):
		c.add("", "clock", false, detail+" is before "+earliest.Format("2006-01-02"),
			"set the clock (enable NTP: timedatectl set-ntp true): certificates and nonces are checked against it")
		return
	case c.cfg.Policy != nil && c.cfg.Policy.Expired(now):
		c.add("", "clock", false, fmt.Sprintf("%s is after the policy's expiry %s", detail, c.cfg.Policy.Expires.UTC().Format(time.RFC3339)),
			"the policy has expired, or this clock is ahead: agree on a new policy, or set the clock")
		return
	case c.cfg.Policy != nil && c.cfg.Policy.CACertificate() != nil && now.Before(c.cfg.Policy.CACertificate().NotBefore):
		c.add("", "clock", false, fmt.Sprintf("%s is before the attestation service CA's start %s", detail, c.cfg.Policy.CACertificate().NotBefore.UTC().Format(time.RFC3339)),
			"this clock is behind: set it (enable NTP: timedatectl set-ntp true)")
		return
	}
	if c.cfg.Policy != nil {
		detail += ", within the policy's validity"
	}
	c.add("", "clock", true, detail, "")
}

func (c *checker) service() {
	u, err := url.Parse(c.cfg.Policy.Attestation.Service)
	if err != nil {
		c.add("", "attestation service", false, err.Error(), "fix attestation.service in the policy")
		return
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	r := c.reach(addr)
	c.add("", "attestation service "+addr, r.OK, r.Detail,
		"start it (truce pas serve) or open the network path to it; the host relays every attestation to it")
}

// reach dials addr once per run.
func (c *checker) reach(addr string) Result {
	if r, ok := c.dialed[addr]; ok {
		return r
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	start := c.cfg.Now()
	conn, err := c.cfg.Dial(ctx, "tcp", addr)
	var r Result
	if err != nil {
		r = Result{Detail: "unreachable: " + err.Error()}
	} else {
		conn.Close()
		r = Result{OK: true, Detail: "reachable (TCP connect in " + c.cfg.Now().Sub(start).Round(time.Millisecond).String() + ")"}
	}
	c.dialed[addr] = r
	return r
}

// exists reports whether path (absolute) is present, and describes it.
func (c *checker) exists(path string) (bool, string) {
	fi, err := fs.Stat(c.cfg.FS, strings.TrimPrefix(path, "/"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, "absent"
	case err != nil:
		return false, err.Error()
	case fi.IsDir():
		return true, "present (directory)"
	case fi.Mode()&fs.ModeCharDevice != 0:
		return true, "present (character device)"
	}
	return true, "present"
}

// cpuFlag reports whether /proc/cpuinfo lists flag.
func (c *checker) cpuFlag(flag string) (bool, string) {
	b, err := fs.ReadFile(c.cfg.FS, "proc/cpuinfo")
	if err != nil {
		return false, "cannot read /proc/cpuinfo: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			if f == flag {
				return true, "CPU flag " + flag + " set"
			}
		}
		return false, "CPU flag " + flag + " not set"
	}
	return false, "/proc/cpuinfo lists no flags"
}

func (c *checker) file(platform, path, what, hint string) bool {
	ok, d := c.exists(path)
	c.add(platform, path, ok, what+": "+d, hint)
	return ok
}

func (c *checker) platform(p string) {
	switch p {
	case "sim":
		c.add(p, "simulated platform", true, "needs no device; for testing only: no hardware stands behind it", "")
	case "nitro":
		c.file(p, "/dev/nsm", "Nitro Security Module, inside an enclave", "run the runtime inside a Nitro enclave (see docs/guide/platforms/nitro.md)")
		c.file(p, "/dev/vsock", "vsock, the enclave's only channel to its host", "load the vsock module (modprobe vhost_vsock on the parent, vsock in the enclave) or run on a Nitro-enabled instance")
		c.file(p, "/dev/nitro_enclaves", "Nitro Enclaves driver, on the parent instance", "on the parent instance, enable enclaves (EnclaveOptions) and install aws-nitro-enclaves-cli")
	case "snp", "tdx", "cca":
		c.cvm(p)
	case "sgx":
		c.file(p, "/dev/attestation", "Gramine's attestation interface, inside the enclave", "run the runtime under Gramine with remote attestation (sgx.remote_attestation = \"dcap\"); see docs/guide/platforms/sgx.md")
		c.file(p, "/dev/sgx_enclave", "SGX driver (Linux 5.11+)", "use an SGX-capable machine with SGX enabled in the firmware and Linux 5.11 or later")
	case "psa":
		c.add(p, "PSA attestation", true, "tokens come from the device's TEE client, not a kernel device: nothing to check here", "")
	default:
		c.add(p, "platform", false, "unknown platform "+p, "use one of "+strings.Join(platform.Names(), ", "))
		return
	}
	if addr, ok := Collateral[p]; ok {
		r := c.reach(addr)
		c.add(p, "vendor collateral "+addr, r.OK, r.Detail,
			"the vendor's collateral (AMD: VCEK certificates and CRLs; Intel: TCB info, QE identity, CRLs) is served there: open HTTPS to it, or fetch it on another machine and give it offline (truce evidence verify --vcek, --collateral)")
	}
}

// cvm checks a confidential VM platform: configfs-tsm, the legacy guest
// device, and the CPU flag the guest kernel sets.
func (c *checker) cvm(p string) {
	tsmHint := "use Linux 6.7 or later in the guest and mount configfs (mount -t configfs none /sys/kernel/config)"
	tsm, detail := c.exists("/" + configfsTSM)
	detail = "configfs-tsm report interface: " + detail
	switch p {
	case "snp":
		dev, d := c.exists("/dev/sev-guest")
		c.add(p, "/"+configfsTSM, tsm || dev, detail+alt(dev, tsm, "/dev/sev-guest"), tsmHint)
		c.add(p, "/dev/sev-guest", dev || tsm, "SEV-SNP guest device: "+d+alt(tsm, dev, "configfs-tsm"), "run inside an SEV-SNP guest with the sev-guest driver")
		ok, fd := c.cpuFlag("sev_snp")
		c.add(p, "kernel SEV-SNP guest support", ok, fd, "run inside an SEV-SNP confidential VM")
	case "tdx":
		dev, d := c.exists("/dev/tdx_guest")
		c.add(p, "/"+configfsTSM, tsm || dev, detail+alt(dev, tsm, "/dev/tdx_guest"), tsmHint)
		c.add(p, "/dev/tdx_guest", dev || tsm, "TDX guest device: "+d+alt(tsm, dev, "configfs-tsm"), "run inside a TDX guest with the tdx-guest driver")
		ok, fd := c.cpuFlag("tdx_guest")
		c.add(p, "kernel TDX guest support", ok, fd, "run inside a TDX confidential VM")
	case "cca":
		c.add(p, "/"+configfsTSM, tsm, detail, tsmHint+", in an Arm CCA realm")
	}
}

// alt notes that a missing interface does not matter when the other one is
// there.
func alt(other, this bool, name string) string {
	if other && !this {
		return " (not needed: " + name + " is used)"
	}
	return ""
}
