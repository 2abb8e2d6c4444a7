package policy

import (
	"errors"
	"testing"
	"time"
)

// TestDecodeValidAt: Decode accepts a policy whatever the time, ValidAt
// judges it at a time, and Parse is both at once.
func TestDecodeValidAt(t *testing.T) {
	f := fixtures(t)
	expired := validPolicy(t)
	expired.Expires = testNow.Add(-time.Hour)
	oldCert := validPolicy(t)
	oldCert.Principals[0].Cert = f.expiredPEM
	for _, tc := range []struct {
		name string
		p    *Policy
		at   time.Time // when ValidAt and Parse judge it
		want string    // the problem's path, "" for none
	}{
		{"valid now", validPolicy(t), testNow, ""},
		{"expired policy, now", expired, testNow, "expires"},
		{"expired policy, before it expired", expired, testNow.Add(-2 * time.Hour), ""},
		{"expired principal, now", oldCert, testNow, "principals[0].cert"},
		{"expired principal, while it held", oldCert, testNow.Add(-47*time.Hour - 30*time.Minute), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := encode(t, tc.p)
			p, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			check := func(what string, err error) {
				t.Helper()
				var ve *ValidationError
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.want != "" && (!errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != tc.want):
					t.Errorf("%s = %v, want one problem at %s", what, err, tc.want)
				}
			}
			check("ValidAt", p.ValidAt(tc.at))
			_, perr := Parse(data, tc.at)
			check("Parse", perr)
		})
	}
	if _, err := Decode([]byte(`{"version": 1`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decode of a truncated policy: %v", err)
	}
}
