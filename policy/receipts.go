package policy

import (
	"strings"

	"github.com/truce-project/truce/capability"
)

// PipelinePrefix starts the program name of a pipeline's receipt:
// "pipeline:" followed by the pipeline's name.
const PipelinePrefix = "pipeline:"

// MayReadReceipt reports whether the principal called name may read the
// receipts of runs of program, a receipt's program name (a program path, or
// PipelinePrefix and a pipeline's name). A receipt names the hashes of what
// the run read and wrote, and a hash gives away a guessable content, so
// only those who may learn that content anyway may read it: a principal
// with the x right on every program the run ran (it could run them and get
// such a receipt itself), or with the r right on every file those programs
// may write (it may read every output; programs that may write nothing
// have no such readers). The commitments of the inputs are in the audit
// log every principal reads. Unknown principals and programs get nothing.
func (p *Policy) MayReadReceipt(name, program string) bool {
	if !p.parsed || p.Principal(name) == nil {
		return false
	}
	var steps []string
	if pl, ok := strings.CutPrefix(program, PipelinePrefix); ok {
		pipe := p.Pipeline(pl)
		if pipe == nil {
			return false
		}
		steps = pipe.Steps
	} else {
		steps = []string{program}
	}
	if len(steps) == 0 {
		return false
	}
	runs, reads, outputs := true, true, false
	for _, s := range steps {
		prog := p.Program(s)
		if prog == nil {
			return false
		}
		runs = runs && p.PrincipalAllows(name, s, capability.Execute)
		for _, g := range prog.Capabilities.Paths() {
			if !prog.Capabilities[g].Has(capability.Write) {
				continue
			}
			outputs = true
			if !p.readsAllOf(name, g) {
				reads = false
			}
		}
	}
	// Reading every output says nothing when there is none: the receipt
	// of a run that writes nothing still carries what its programs chose
	// (their exit code, outcome and times), from inputs the principal may
	// not read.
	return runs || reads && outputs
}

// readsAllOf reports whether the principal has r on everything the grant
// path g covers: on g itself for a file, on a grant covering the whole
// directory for a directory.
func (p *Policy) readsAllOf(name, g string) bool {
	pr := p.Principal(name)
	if !strings.HasSuffix(g, "/") {
		return pr.Capabilities.Allows(g, capability.Read)
	}
	for pg, rights := range pr.Capabilities {
		if rights.Has(capability.Read) && strings.HasSuffix(pg, "/") && capability.Covers(pg, g) {
			return true
		}
	}
	return false
}
