package bundle

import (
	"errors"
	"fmt"
)

// ErrLink is returned (wrapped) by Follows for two bundles that do not
// make one log.
var ErrLink = errors.New("audit bundles do not link")

// Follows checks that the bundle of later continues the one of earlier,
// both verified (Verify): they come from the same enclave key; later's
// chain of policies extends earlier's; and later's log starts no later
// than where earlier's ends and holds, at earlier's last entry, the same
// hash (or, starting right after it, follows that hash). The hash chain
// then makes every entry both hold the same, and the two bundles together
// show the log from earlier's first entry to later's last, though the
// enclave folded the older entries away before the later export. It
// fails if entries between the two were folded away unexported.
func Follows(earlier, later *Report) error {
	if earlier == nil || later == nil || earlier.Checkpoint == nil || later.Checkpoint == nil {
		return fmt.Errorf("%w: give two verified bundles", ErrLink)
	}
	if earlier.KeyHash != later.KeyHash {
		return fmt.Errorf("%w: they come from two enclaves (keys %s and %s)", ErrLink, earlier.KeyHash, later.KeyHash)
	}
	if len(later.Chain) < len(earlier.Chain) {
		return fmt.Errorf("%w: the later bundle's chain of policies is shorter than the earlier's", ErrLink)
	}
	for i, l := range earlier.Chain {
		if l.Policy.Hash() != later.Chain[i].Policy.Hash() {
			return fmt.Errorf("%w: policy %d of the chains differs (%s, %s)", ErrLink, i, l.Policy.HashHex(), later.Chain[i].Policy.HashHex())
		}
	}
	e, l := earlier.Checkpoint, later.Checkpoint
	switch {
	case l.Size < e.Size:
		return fmt.Errorf("%w: the later bundle's log ends at entry %d, before the earlier's (%d): give them the other way round", ErrLink, l.Size, e.Size)
	case l.From > e.Size:
		return fmt.Errorf("%w: entries %d to %d were folded away between the two exports: the log between them is lost", ErrLink, e.Size, l.From-1)
	case e.Size == l.From:
		if l.Prev != e.Head {
			return fmt.Errorf("%w: the later log's first entry follows %s, the earlier log ends in %s", ErrLink, l.Prev, e.Head)
		}
	default:
		if got := later.Entries[e.Size-1-l.From].Hash; got != e.Head {
			return fmt.Errorf("%w: entry %d is %s in the earlier bundle and %s in the later", ErrLink, e.Size-1, e.Head, got)
		}
	}
	return nil
}
