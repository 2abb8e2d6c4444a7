package abi

import (
	"errors"
	"testing"
)

func TestCheckNativeNames(t *testing.T) {
	for _, tc := range []struct {
		names   []string
		ok      bool
		unknown bool
	}{
		{nil, true, false},
		{[]string{CryptoModule}, true, false},
		{[]string{CryptoModule, CryptoModule}, false, false},
		{[]string{"truce_nope"}, false, true},
		{[]string{WASIModule}, false, true},
		{[]string{""}, false, true},
	} {
		err := CheckNativeNames(tc.names)
		if (err == nil) != tc.ok || errors.Is(err, ErrUnknownModule) != tc.unknown {
			t.Errorf("CheckNativeNames(%q) = %v", tc.names, err)
		}
	}
}
