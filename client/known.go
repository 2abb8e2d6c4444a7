package client

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrEnclaveChanged: the enclave is another instance than the one met
// last time for the same policy (it was started again, with empty files,
// fresh budgets and a new audit log), or the enclave changed during a
// session. The error is an *EnclaveChangedError.
var ErrEnclaveChanged = errors.New("a different enclave instance than last time")

// EnclaveChangedError says which enclave instance was expected and which
// was met. Instances are named by their key's fingerprint (KeyFingerprint):
// an enclave makes its key when it starts and keeps it, through
// certificate renewals, until it stops.
type EnclaveChangedError struct {
	// Policy is the hash of the policy the enclave certificates bind (the
	// first of its chain).
	Policy [32]byte
	// Previous is the instance met last time; Current the one met now.
	Previous, Current [32]byte
	// PreviousFirstSeen and PreviousLastSeen are when this client first
	// and last met Previous.
	PreviousFirstSeen, PreviousLastSeen time.Time
	// Seen is how many instances this client has met for the policy,
	// Current included.
	Seen int
	// InSession is true when the enclave changed under an open session
	// (Previous was verified earlier in the same session).
	InSession bool
}

func (e *EnclaveChangedError) Error() string {
	when := "earlier in this session"
	if !e.InSession {
		when = fmt.Sprintf("last time (met from %s to %s)", e.PreviousFirstSeen.UTC().Format(time.RFC3339), e.PreviousLastSeen.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%v: policy %s is served by enclave key sha256:%s, not sha256:%s as %s: the enclave was started again since, with empty files, fresh data-use budgets and a new audit log",
		ErrEnclaveChanged, hex.EncodeToString(e.Policy[:8]), hex.EncodeToString(e.Current[:]), hex.EncodeToString(e.Previous[:]), when)
}

// Is matches ErrEnclaveChanged.
func (e *EnclaveChangedError) Is(target error) bool { return target == ErrEnclaveChanged }

// ErrKnownEnclavesFull: the known-enclaves record holds as many policies
// as it may, each with the one instance it expects next, so a new policy
// is not recorded (forgetting another's pin would let that policy's
// enclave be replaced unnoticed).
var ErrKnownEnclavesFull = errors.New("the known-enclaves record is full")

// KeyFingerprint is the SHA-256 of the enclave certificate's
// SubjectPublicKeyInfo: it names one enclave instance. Its base64 is
// what curl's --pinnedpubkey sha256//… pins.
func KeyFingerprint(leaf *x509.Certificate) [32]byte {
	return sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
}

// KnownEnclavesEnv names the environment variable that sets where the
// known-enclaves record is kept ("off" keeps none).
const KnownEnclavesEnv = "TRUCE_KNOWN_ENCLAVES"

// DefaultKnownEnclavesPath is where the record is kept when getenv (nil
// means os.Getenv) sets nothing else: $TRUCE_KNOWN_ENCLAVES, else
// $XDG_CONFIG_HOME/truce/known_enclaves, else
// $HOME/.config/truce/known_enclaves. It returns "" when the record is
// off (TRUCE_KNOWN_ENCLAVES=off) or no location is set.
func DefaultKnownEnclavesPath(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if p := getenv(KnownEnclavesEnv); p != "" {
		if p == "off" {
			return ""
		}
		return p
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "truce", "known_enclaves")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "truce", "known_enclaves")
	}
	return ""
}

// Limits of the record: lines longer, or files larger, are refused; to
// stay under maxKnownInstances lines, the oldest lines that are not the
// last of their policy are dropped (see KnownEnclaves).
const (
	maxKnownFile      = 1 << 20
	maxKnownInstances = 4096
)

// KnownEnclaves is a record, like SSH's known_hosts, of the enclave
// instances a client met, per policy, so that it notices when it meets a
// different one than last time. It is a text file, one instance a line,
// in the order they were accepted:
//
//	POLICY-HASH sha256:KEY-FINGERPRINT FIRST-SEEN LAST-SEEN
//
// (hex hashes, RFC 3339 times); the last line of a policy is the instance
// expected next. Lines starting with # are comments.
//
// The record keeps at most 4,096 lines. To stay under it, it drops the
// oldest lines of instances replaced since (never the last line of a
// policy: that would let a host that makes the client meet many enclaves
// push a pin out, then present a new enclave for that policy as a first
// meeting). When every line left is a policy's last, a new policy is
// refused with ErrKnownEnclavesFull rather than another's pin forgotten.
//
// Processes sharing a file take turns: each reads, changes and rewrites
// it (atomically, through a temporary file renamed over it) holding an
// exclusive lock on the file PATH.lock next to it (flock on Unix,
// LockFileEx on Windows; elsewhere only the goroutines of one
// KnownEnclaves take turns).
type KnownEnclaves struct {
	// Path is the file; it and its directory are made when first needed.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// max bounds the lines kept; 0 means maxKnownInstances.
	max int
}

type knownLine struct {
	policy, key [32]byte
	first, last time.Time
}

// Check compares the instance key met for policy with the record. On a
// first meeting it records it and returns nil. When it is the instance
// met last time, it notes the time and returns nil. Otherwise it calls
// onChange with the change: if onChange returns nil the new instance is
// recorded as the one to expect and Check returns nil; if onChange is nil,
// or returns an error, nothing is recorded and Check returns that error
// (the *EnclaveChangedError for a nil onChange).
func (k *KnownEnclaves) Check(policy, key [32]byte, onChange func(*EnclaveChangedError) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	t := now().UTC().Truncate(time.Second)
	unlock, err := lockKnown(k.Path)
	if err != nil {
		return err
	}
	defer unlock()
	lines, err := k.read()
	if err != nil {
		return err
	}
	last, seen := -1, map[[32]byte]bool{}
	for i, l := range lines {
		if l.policy == policy {
			last = i
			seen[l.key] = true
		}
	}
	added := false
	switch {
	case last < 0:
		lines = append(lines, knownLine{policy, key, t, t})
		added = true
	case lines[last].key == key:
		if t.Sub(lines[last].last) < time.Minute {
			return nil
		}
		lines[last].last = t
	default:
		seen[key] = true
		ch := &EnclaveChangedError{Policy: policy, Previous: lines[last].key, Current: key,
			PreviousFirstSeen: lines[last].first, PreviousLastSeen: lines[last].last, Seen: len(seen)}
		if onChange == nil {
			return ch
		}
		if err := onChange(ch); err != nil {
			return err
		}
		first := t
		for i, l := range lines {
			if l.policy == policy && l.key == key {
				first = l.first
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
		lines = append(lines, knownLine{policy, key, first, t})
	}
	limit := maxKnownInstances
	if k.max > 0 {
		limit = k.max
	}
	lines = trimKnown(lines, limit)
	if added && len(lines) > limit {
		return fmt.Errorf("%w: %s holds %d policies, the most it may, each with the enclave instance expected next; policy %s was not recorded, rather than another policy's pin forgotten: remove the lines of policies you no longer use from the file (or set %s to another file), then connect again",
			ErrKnownEnclavesFull, k.Path, len(lines)-1, hex.EncodeToString(policy[:8]), KnownEnclavesEnv)
	}
	return k.write(lines)
}

// trimKnown drops, oldest first, lines that are not the last of their
// policy (instances replaced since) until at most limit are left, or only
// last lines are. It never drops a policy's last line: that is its pin.
func trimKnown(lines []knownLine, limit int) []knownLine {
	excess := len(lines) - limit
	if excess <= 0 {
		return lines
	}
	last := map[[32]byte]int{}
	for i, l := range lines {
		last[l.policy] = i
	}
	out := lines[:0:0]
	for i, l := range lines {
		if excess > 0 && last[l.policy] != i {
			excess--
			continue
		}
		out = append(out, l)
	}
	return out
}

func (k *KnownEnclaves) read() ([]knownLine, error) {
	b, err := os.ReadFile(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the known-enclaves record: %w", err)
	}
	if len(b) > maxKnownFile {
		return nil, fmt.Errorf("the known-enclaves record %s is over %d bytes: remove old lines, or the file", k.Path, maxKnownFile)
	}
	var out []knownLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		l, err := parseKnownLine(s)
		if err != nil {
			return nil, fmt.Errorf("the known-enclaves record %s, line %d: %w: fix or remove the line", k.Path, n, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func parseKnownLine(s string) (knownLine, error) {
	var l knownLine
	f := strings.Fields(s)
	if len(f) != 4 {
		return l, errors.New("want POLICY-HASH sha256:KEY FIRST-SEEN LAST-SEEN")
	}
	if err := hex32(f[0], &l.policy); err != nil {
		return l, fmt.Errorf("policy hash: %w", err)
	}
	key, ok := strings.CutPrefix(f[1], "sha256:")
	if !ok {
		return l, errors.New("the key fingerprint must start with sha256:")
	}
	if err := hex32(key, &l.key); err != nil {
		return l, fmt.Errorf("key fingerprint: %w", err)
	}
	var err error
	if l.first, err = time.Parse(time.RFC3339, f[2]); err != nil {
		return l, fmt.Errorf("first seen: %w", err)
	}
	if l.last, err = time.Parse(time.RFC3339, f[3]); err != nil {
		return l, fmt.Errorf("last seen: %w", err)
	}
	return l, nil
}

func hex32(s string, out *[32]byte) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return fmt.Errorf("%q is not 64 hex digits", s)
	}
	copy(out[:], b)
	return nil
}

func (k *KnownEnclaves) write(lines []knownLine) error {
	var b bytes.Buffer
	b.WriteString("# Truce known enclaves: POLICY-HASH sha256:ENCLAVE-KEY FIRST-SEEN LAST-SEEN (see client.KnownEnclaves)\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%s sha256:%s %s %s\n", hex.EncodeToString(l.policy[:]), hex.EncodeToString(l.key[:]),
			l.first.UTC().Format(time.RFC3339), l.last.UTC().Format(time.RFC3339))
	}
	dir := filepath.Dir(k.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".known_enclaves-*")
	if err != nil {
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	if err := os.Rename(tmp.Name(), k.Path); err != nil {
		return fmt.Errorf("writing the known-enclaves record: %w", err)
	}
	return nil
}
