package pas

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/paswire"
)

// verdictKinds gives the problem type of each rule the service refuses
// evidence by.
var verdictKinds = map[string]string{
	attest.RulePlatform:    paswire.ProblemBadEvidence,
	attest.RuleEvidence:    paswire.ProblemBadEvidence,
	attest.RuleBinding:     paswire.ProblemBinding,
	attest.RuleRevoked:     paswire.ProblemRevoked,
	attest.RuleMeasurement: paswire.ProblemUntrustedMeasurement,
	attest.RuleMinimumTCB:  paswire.ProblemTCB,
}

// verdictProblem is the problem of a refusal of evidence: the verdict's
// summary as the detail (the title names the rule), and the verdict itself.
func verdictProblem(v *attest.Verdict) *paswire.ProblemError {
	kind, ok := verdictKinds[v.Rule]
	if !ok {
		kind = paswire.ProblemBadEvidence
	}
	p := paswire.NewProblem(kind, v.Summary())
	p.Verdict = v
	return p
}

func writeProblem(w http.ResponseWriter, p *paswire.ProblemError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(p.RetryAfter.Seconds())), 10))
	} else if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
