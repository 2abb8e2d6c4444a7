package hint

import (
	"errors"
	"io"
	"testing"
)

func TestWith(t *testing.T) {
	if With(nil, "x") != nil {
		t.Fatal("With(nil) is not nil")
	}
	err := With(Usagef("bad %s", "flag"), "give %d", 1)
	var he *Error
	var ue *UsageError
	if !errors.As(err, &he) || he.Hint != "give 1" || !errors.As(err, &ue) || err.Error() != "bad flag" {
		t.Fatalf("With(Usagef) = %#v", err)
	}
	if !errors.Is(With(io.EOF, "h"), io.EOF) {
		t.Fatal("With does not wrap")
	}
}
