package policy

import (
	"bytes"
	"strings"
	"testing"
)

func TestSingleInstance(t *testing.T) {
	base := encode(t, validPolicy(t))
	if mustParse(t, base).Attestation.SingleInstance {
		t.Fatal("a policy without single_instance allows one instance only")
	}
	for _, tc := range []struct {
		value, problem string
		want           bool
	}{
		{"true", "", true},
		{"false", "", false},
		{`"yes"`, "attestation.single_instance", false},
		{"1", "attestation.single_instance", false},
	} {
		b := bytes.Replace(base, []byte(`"attestation": {`), []byte(`"attestation": {"single_instance": `+tc.value+`, `), 1)
		if bytes.Equal(b, base) {
			t.Fatal("the test policy has no attestation object to extend")
		}
		p, err := Parse(b, testNow)
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("single_instance %s: %v", tc.value, err)
		case tc.problem == "" && p.Attestation.SingleInstance != tc.want:
			t.Errorf("single_instance %s parsed as %v", tc.value, p.Attestation.SingleInstance)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("single_instance %s: %v, want a problem at %s", tc.value, err, tc.problem)
		}
	}
}
