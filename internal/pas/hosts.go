package pas

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// HostsFile, in a service directory, lists the hosts that may
// authenticate: their names and the SHA-256 of their credentials (never
// the credentials themselves).
const HostsFile = "hosts.json"

// CredentialPrefix starts every host credential.
const CredentialPrefix = "truce-host-"

// maxHostsFile bounds the hosts file read.
const maxHostsFile = 4 << 20

// ErrHostExists: AddHost was given a name already in use.
var ErrHostExists = errors.New("host name already in use")

// HostRecord is one host of the hosts file.
type HostRecord struct {
	// Name names the host in logs and limits.
	Name string `json:"name"`
	// CredentialSHA256 is the hex SHA-256 of the host's credential.
	CredentialSHA256 string `json:"credential_sha256"`
	// Added is when the credential was made.
	Added time.Time `json:"added"`
}

type hostsDoc struct {
	Hosts []HostRecord `json:"hosts"`
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// AddHost makes a credential for a new host called name, adds its hash to
// dir's hosts file and returns the credential: a bearer token of 256
// random bits, to give the host (truce host serve --pas-credential). The
// service reads the hosts file when it opens; restart it to accept the new
// host. A nil rand means crypto/rand.
func AddHost(dir, name string, rnd io.Reader, now time.Time) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if !hostName.MatchString(name) {
		return "", fmt.Errorf("host name %q: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if _, err := readCACert(dir); err != nil {
		return "", err
	}
	hosts, err := LoadHosts(dir)
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		if h.Name == name {
			return "", fmt.Errorf("%w: %q is in %s", ErrHostExists, name, filepath.Join(dir, HostsFile))
		}
	}
	var secret [32]byte
	if _, err := io.ReadFull(rnd, secret[:]); err != nil {
		return "", fmt.Errorf("generating the host credential: %w", err)
	}
	cred := CredentialPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(cred))
	hosts = append(hosts, HostRecord{Name: name, CredentialSHA256: hex.EncodeToString(sum[:]), Added: now.UTC()})
	b, err := json.MarshalIndent(hostsDoc{Hosts: hosts}, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".hosts-*.json")
	if err != nil {
		return "", fmt.Errorf("writing the hosts file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing the hosts file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing the hosts file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing the hosts file: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, HostsFile)); err != nil {
		return "", fmt.Errorf("writing the hosts file: %w", err)
	}
	return cred, nil
}

// LoadHosts reads dir's hosts file; a missing file means no host.
func LoadHosts(dir string) ([]HostRecord, error) {
	f, err := os.Open(filepath.Join(dir, HostsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the hosts file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHostsFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the hosts file: %w", err)
	}
	if len(b) > maxHostsFile {
		return nil, fmt.Errorf("the hosts file %s is over %d bytes", f.Name(), maxHostsFile)
	}
	var doc hostsDoc
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("the hosts file %s: %w", f.Name(), err)
	}
	seen := map[string]bool{}
	for i, h := range doc.Hosts {
		if !hostName.MatchString(h.Name) {
			return nil, fmt.Errorf("the hosts file %s: hosts[%d]: bad name %q", f.Name(), i, h.Name)
		}
		if seen[h.Name] {
			return nil, fmt.Errorf("the hosts file %s: hosts[%d]: %q listed twice", f.Name(), i, h.Name)
		}
		seen[h.Name] = true
		if s, err := hex.DecodeString(h.CredentialSHA256); err != nil || len(s) != sha256.Size {
			return nil, fmt.Errorf("the hosts file %s: hosts[%d]: credential_sha256 is not 64 hex digits", f.Name(), i)
		}
	}
	return doc.Hosts, nil
}

// hostSet checks credentials against the hosts file's hashes.
type hostSet struct {
	names  []string
	hashes [][sha256.Size]byte
}

func newHostSet(hosts []HostRecord) *hostSet {
	s := &hostSet{}
	for _, h := range hosts {
		var sum [sha256.Size]byte
		hex.Decode(sum[:], []byte(h.CredentialSHA256))
		s.names = append(s.names, h.Name)
		s.hashes = append(s.hashes, sum)
	}
	return s
}

// lookup returns the name of the host whose credential cred is. Every
// hash is compared, in constant time, whichever matches.
func (s *hostSet) lookup(cred string) (string, bool) {
	sum := sha256.Sum256([]byte(cred))
	found := -1
	for i, h := range s.hashes {
		if subtle.ConstantTimeCompare(sum[:], h[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return s.names[found], true
}

// ReadCredential reads a host credential from file, as AddHost made it.
func ReadCredential(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the host credential: %w", err)
	}
	c := strings.TrimSpace(string(b))
	if !strings.HasPrefix(c, CredentialPrefix) || len(c) > 256 || strings.ContainsAny(c, " \t\r\n") {
		return "", fmt.Errorf("%s does not hold a host credential (one line starting %q, as \"truce pas host add\" writes)", file, CredentialPrefix)
	}
	return c, nil
}
