package host

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/paswire"
)

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{errors.New("unreachable"), time.Second},
		{fmt.Errorf("refused: %w", &paswire.ProblemError{Type: paswire.ProblemBase + paswire.ProblemRateLimited, RetryAfter: 4 * time.Second}), 4 * time.Second},
		{&paswire.ProblemError{Type: paswire.ProblemBase + paswire.ProblemBusy, RetryAfter: time.Hour}, maxRetryDelay},
		{&paswire.ProblemError{Type: paswire.ProblemBase + paswire.ProblemBusy}, time.Second},
	} {
		if got := retryDelay(tc.err); got != tc.want {
			t.Errorf("retryDelay(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
