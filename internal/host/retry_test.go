package host

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/pas"
)

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{errors.New("unreachable"), time.Second},
		{fmt.Errorf("refused: %w", &pas.ProblemError{Type: pas.ProblemTypePrefix + pas.ProblemRateLimited, RetryAfter: 4 * time.Second}), 4 * time.Second},
		{&pas.ProblemError{Type: pas.ProblemTypePrefix + pas.ProblemBusy, RetryAfter: time.Hour}, maxRetryDelay},
		{&pas.ProblemError{Type: pas.ProblemTypePrefix + pas.ProblemBusy}, time.Second},
	} {
		if got := retryDelay(tc.err); got != tc.want {
			t.Errorf("retryDelay(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
