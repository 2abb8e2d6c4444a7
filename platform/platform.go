// Package platform holds the facts of each trusted-execution platform
// that both the policy (what a policy may pin) and the attestation
// verifiers (what evidence yields) need: names, measurement sizes, the
// extra measurements a policy may pin, and the TCB components a policy may
// set a minimum for. It is a leaf: it imports nothing of Truce's and holds
// no behaviour beyond lookups, so that adding a platform's facts is one
// edit, seen alike by policy checks and verifiers.
package platform

import (
	"slices"
	"sort"
	"strconv"
)

// The platforms' names, as policies and evidence spell them.
const (
	Sim   = "sim"
	Nitro = "nitro"
	SNP   = "snp"
	TDX   = "tdx"
	SGX   = "sgx"
	CCA   = "cca"
	PSA   = "psa"
)

// Spec describes what a policy pins for one platform.
type Spec struct {
	// Sizes are the allowed measurement lengths in bytes.
	Sizes []int
	// Measurement names the measurement as the platform's documents do.
	Measurement string
	// Extra maps each extra pin name to its allowed lengths in bytes.
	Extra map[string][]int
	// TCB names the TCB components a policy may set a minimum for, in
	// the order the platform's documents list them; nil if Truce checks
	// none on this platform.
	TCB []string
	// NoTCB says why a platform has no TCB components, for the error a
	// policy setting a minimum gets.
	NoTCB string
}

// Extra measurement names, as a policy's runtimes[].extra and a
// verifier's claims spell them.
const (
	SNPHostData        = "host_data"
	SNPIDKeyDigest     = "id_key_digest"
	SNPAuthorKeyDigest = "author_key_digest"
	SGXMRSigner        = "mrsigner"
	PSASignerID        = "signer_id"
	PSAImplementation  = "implementation_id"
)

// TCB component names, as a policy's attestation.minimum_tcb and a
// verifier's claims spell them. The SVN vectors of TDX and SGX are named
// vector.0 … vector.15 (SVN).
const (
	SNPBootloader = "bootloader"
	SNPTEE        = "tee"
	SNPSNP        = "snp"
	SNPMicrocode  = "microcode"
	PCESVN        = "pce_svn"
	ISVSVN        = "isv_svn"
	CPUSVN        = "cpu_svn"
	TEETCBSVN     = "tee_tcb_svn"
)

// SVN returns the name of component i of the 16-byte SVN vector name,
// such as "cpu_svn.4".
func SVN(name string, i int) string { return name + "." + strconv.Itoa(i) }

// svnVector names the components of a 16-byte SVN vector: name.0 … name.15.
func svnVector(name string) []string {
	out := make([]string, 16)
	for i := range out {
		out[i] = SVN(name, i)
	}
	return out
}

// pins returns the extra pins names, each allowed sizes.
func pins(sizes []int, names ...string) map[string][]int {
	m := make(map[string][]int, len(names))
	for _, n := range names {
		m[n] = sizes
	}
	return m
}

var specs = map[string]Spec{
	Sim: {Sizes: []int{32}, Measurement: "SHA-256 of the runtime executable",
		NoTCB: "the simulated platform has no firmware"},
	Nitro: {Sizes: []int{48}, Measurement: "PCR0", Extra: pins([]int{48}, "pcr1", "pcr2", "pcr3", "pcr4", "pcr8"),
		NoTCB: "Nitro attestation documents carry no firmware or TCB versions (AWS updates the Nitro hypervisor itself); pin pcr1 and pcr2 under extra instead"},
	SNP: {Sizes: []int{48}, Measurement: "launch MEASUREMENT", Extra: map[string][]int{SNPHostData: {32}, SNPIDKeyDigest: {48}, SNPAuthorKeyDigest: {48}},
		TCB: []string{SNPBootloader, SNPTEE, SNPSNP, SNPMicrocode}},
	TDX: {Sizes: []int{48}, Measurement: "MRTD", Extra: pins([]int{48}, "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner", "mrownerconfig"),
		TCB: slices.Concat([]string{PCESVN}, svnVector(TEETCBSVN), svnVector(CPUSVN))},
	SGX: {Sizes: []int{32}, Measurement: "MRENCLAVE", Extra: map[string][]int{SGXMRSigner: {32}},
		TCB: slices.Concat([]string{ISVSVN, PCESVN}, svnVector(CPUSVN))},
	CCA: {Sizes: []int{32, 48, 64}, Measurement: "realm initial measurement (RIM)",
		Extra: map[string][]int{"rem0": {32, 48, 64}, "rem1": {32, 48, 64}, "rem2": {32, 48, 64}, "rem3": {32, 48, 64}, "rpv": {64}},
		NoTCB: "Truce does not yet read security versions from CCA platform tokens; pin the platform's software components by measurement instead"},
	PSA: {Sizes: []int{32, 48, 64}, Measurement: "software component measurement", Extra: map[string][]int{PSASignerID: {32, 48, 64}, PSAImplementation: {32}},
		NoTCB: "Truce does not yet read security versions from PSA tokens; pin signer_id instead"},
}

// Names returns the names of the platforms a policy may list, sorted.
func Names() []string {
	ns := make([]string, 0, len(specs))
	for n := range specs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Lookup returns the facts of the named platform.
func Lookup(name string) (Spec, bool) {
	s, ok := specs[name]
	return s, ok
}
