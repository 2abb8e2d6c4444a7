package server

import (
	"context"
	"errors"
	"testing"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas/hsm"
)

func TestMainRefusesBadConfig(t *testing.T) {
	var u *hint.UsageError
	if err := Main(context.Background(), MainConfig{}); !errors.As(err, &u) {
		t.Fatalf("Main(zero) = %v, want a usage error for the listen address", err)
	}
	cfg := MainConfig{Config: Config{Listen: "127.0.0.1:0"}}
	if err := Main(context.Background(), cfg); !errors.As(err, &u) || u.Msg == "" {
		t.Fatalf("Main(zero limits) = %v, want a usage error for the limits", err)
	}
}

func TestOpenCAKey(t *testing.T) {
	k, err := OpenCAKey(hsm.Config{}, false)
	if k != nil || err != nil {
		t.Fatalf("OpenCAKey(zero) = %v, %v, want nil, nil", k, err)
	}
	var u *hint.UsageError
	if _, err := OpenCAKey(hsm.Config{Module: "m.so"}, false); !errors.As(err, &u) {
		t.Fatalf("OpenCAKey(no token) = %v, want a usage error", err)
	}
}
