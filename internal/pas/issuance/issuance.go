// Package issuance shows people the attestation service's issuance log
// (package pas): every certificate issued, oldest first, checked entry by
// entry as it is read (WriteLog), or the enclave instances certified for
// the policies whose hash starts with a prefix (WriteInstances). It is
// what "truce pas log" prints.
//
// It only reads the log, so it may run while the service serves; it must
// never append to it or change it.
package issuance

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
)

// WriteLog reads the log of the service in dir (kept in database, or
// dir's SQLite file for ""), writing one line per entry unless quiet, and
// returns how many entries there are and the head hash. A log changed
// after it was written is an error wrapping pas.ErrLogTampered that says
// how many entries were good.
func WriteLog(ctx context.Context, w io.Writer, dir, database string, quiet bool) (n int64, head [32]byte, err error) {
	err = pas.ReadLogIn(ctx, dir, database, func(en pas.Entry) error {
		n, head = en.Seq, en.Hash
		if quiet {
			return nil
		}
		sim := ""
		if en.Identity.Simulated {
			sim = " SIMULATED"
		}
		fmt.Fprintf(w, "%d %s serial=%s platform=%s%s measurement=%s policy=%s\n",
			en.Seq, en.Time.UTC().Format(time.RFC3339Nano), en.Serial, en.Identity.Platform, sim,
			hex.EncodeToString(en.Identity.Measurement), hex.EncodeToString(en.Identity.PolicyHash[:]))
		return nil
	})
	if errors.Is(err, pas.ErrLogTampered) {
		err = fmt.Errorf("after %d good entries: %w", n, err)
	}
	return n, head, err
}

// WriteInstances writes the enclave instances (one enclave key each,
// renewals included) certified for the policies whose hex hash starts
// with prefix ("" for all), then a summary line. A prefix must be 8 to 64
// hex digits: another is a *hint.UsageError.
func WriteInstances(ctx context.Context, w io.Writer, dir, database, prefix string) error {
	prefix = strings.ToLower(prefix)
	if prefix != "" {
		if _, err := hex.DecodeString(prefix[:len(prefix)&^1]); err != nil || len(prefix) < 8 || len(prefix) > 64 {
			return hint.With(hint.Usagef("--policy %q is not a policy hash", prefix),
				"give the policy's hash in hex, at least its first 8 digits (truce policy hash FILE prints it)")
		}
	}
	is := pas.NewInstances(nil)
	err := pas.ReadLogIn(ctx, dir, database, func(en pas.Entry) error {
		if strings.HasPrefix(hex.EncodeToString(en.Identity.PolicyHash[:]), prefix) {
			return is.Add(en)
		}
		return nil
	})
	if err != nil {
		return err
	}
	list := is.List()
	per := map[[32]byte]int{}
	for _, in := range list {
		per[in.PolicyHash]++
	}
	for _, in := range list {
		sim := ""
		if in.Simulated {
			sim = " SIMULATED"
		}
		fmt.Fprintf(w, "policy=%s enclave-key=sha256:%s first=%s last=%s certificates=%d platform=%s%s measurement=%s\n",
			hex.EncodeToString(in.PolicyHash[:]), in.KeyHex(), in.First.UTC().Format(time.RFC3339), in.Last.UTC().Format(time.RFC3339),
			in.Certificates, in.Platform, sim, hex.EncodeToString(in.Measurement))
	}
	switch {
	case len(list) == 0 && prefix != "":
		fmt.Fprintf(w, "no enclave was certified for policy %s…\n", prefix)
	case len(per) == 1 && len(list) > 1:
		fmt.Fprintf(w, "%d enclave instances for this policy: the enclave was started %d times, each time with empty files, fresh budgets and a new audit log\n", len(list), len(list))
	default:
		fmt.Fprintf(w, "%d enclave instances for %d policies\n", len(list), len(per))
	}
	return nil
}
