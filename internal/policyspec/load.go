package policyspec

import (
	"fmt"
	"os"
	"time"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/policy"
)

// Load reads and checks the policy file a person gives (--policy or
// $TRUCE_POLICY) as of now, with a hint for each way it can fail. The
// client commands and the host both use it; it links neither.
func Load(file string) (*policy.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, hint.With(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy or $TRUCE_POLICY")
	}
	pol, err := policy.Parse(b, time.Now())
	if err != nil {
		return nil, hint.With(fmt.Errorf("policy %s: %w", file, err), "check it with \"truce policy check %s\"", file)
	}
	return pol, nil
}
