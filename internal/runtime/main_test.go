package runtime

import (
	"context"
	"errors"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

func TestMainZeroConfigIsAUsageError(t *testing.T) {
	err := Main(context.Background(), MainConfig{})
	var u *hint.UsageError
	if !errors.As(err, &u) || u.Msg != "--policy is required" {
		t.Fatalf("Main(zero) = %v, want the usage error --policy is required", err)
	}
	err = Main(context.Background(), MainConfig{PolicyFile: "p.json"})
	if !errors.As(err, &u) {
		t.Fatalf("Main without Listen = %v, want a usage error", err)
	}
}

func TestOpenProvider(t *testing.T) {
	if _, err := OpenProvider("no-such-platform", ""); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("OpenProvider(unknown) = %v, want ErrNoProvider", err)
	}
	_, err := OpenProvider("sim", "")
	var h *hint.Error
	if err == nil || !errors.As(err, &h) {
		t.Fatalf("OpenProvider(sim, no key) = %v, want an error with a hint", err)
	}
}
