package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestCommit(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	other := bytes.Repeat([]byte{2}, SaltSize)
	c := Commit(salt, []byte("bid=4217"))
	if c == Commit(other, []byte("bid=4217")) {
		t.Fatal("two salts give one commitment")
	}
	if c == Commit(salt, []byte("bid=4218")) {
		t.Fatal("two contents give one commitment")
	}
	for _, tc := range []struct {
		name, commit, salt, content string
		want                        error // nil: opens; errOther: any other error
	}{
		{"opens", c, hex.EncodeToString(salt), "bid=4217", nil},
		{"other bytes", c, hex.EncodeToString(salt), "bid=4218", ErrOpening},
		{"other salt", c, hex.EncodeToString(other), "bid=4217", ErrOpening},
		{"upper-case hex", strings.ToUpper(c), strings.ToUpper(hex.EncodeToString(salt)), "bid=4217", nil},
		{"short salt", c, "0101", "bid=4217", errOther},
		{"salt not hex", c, strings.Repeat("zz", SaltSize), "bid=4217", errOther},
		{"commitment not hex", "xyz", hex.EncodeToString(salt), "bid=4217", errOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Open(tc.commit, tc.salt, strings.NewReader(tc.content))
			switch {
			case tc.want == nil && err != nil, tc.want == ErrOpening && !errors.Is(err, ErrOpening),
				tc.want == errOther && (err == nil || errors.Is(err, ErrOpening)):
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

var errOther = errors.New("another error")

// FuzzOpen: commitments and salts from untrusted bytes (a receipt, a
// header, a flag) never panic Open, and only the right content under the
// right salt opens a commitment.
func FuzzOpen(f *testing.F) {
	salt := bytes.Repeat([]byte{7}, SaltSize)
	f.Add(Commit(salt, []byte("yes")), hex.EncodeToString(salt), []byte("yes"))
	f.Add("", "", []byte{})
	f.Fuzz(func(t *testing.T, commit, saltHex string, content []byte) {
		err := Open(commit, saltHex, bytes.NewReader(content))
		if err == nil {
			s, _ := hex.DecodeString(saltHex)
			if !strings.EqualFold(Commit(s, content), commit) {
				t.Fatalf("Open(%q, %q) accepted %q", commit, saltHex, content)
			}
		}
	})
}
