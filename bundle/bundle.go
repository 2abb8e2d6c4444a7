// Package bundle is the audit bundle: one file holding what is needed to
// check, offline and with no server, what an enclave did under a policy:
// the policy chain, the enclave's certificate chain and attestation
// evidence, its hash-chained audit log with the enclave's signed checkpoint
// of it, and the signed receipts of its runs. A principal makes one from a
// running enclave (Export); anyone holding it checks it (Parse, Verify).
//
// A bundle is one JSON document, written as encoding/json writes it and
// read back only if it is byte for byte what encoding/json would write, so
// that no byte of it can change without changing a value. Its digest names
// the bundle; the exporter's signature over the digest says which principal
// made it; everything else it states is believed only as far as the
// enclave's and the attestation service's signatures carry it.
//
// This package must never accept a bundle some part of which does not
// check, nor report as checked anything it did not check.
package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/receipt"
)

// Format is the value of every bundle's "format" field.
const Format = "truce-audit-bundle"

// Version is the bundle version this package writes and reads.
const Version = 1

// Domain prefixes the bytes whose SHA-256 is a bundle's digest.
const Domain = "truce-audit-bundle-v1\n"

// MaxSize bounds the size of a bundle file read.
const MaxSize = 256 << 20

// Errors callers branch on; wrapped errors say what exactly failed.
var (
	// ErrFormat: the bytes are not a bundle this truce reads, or not
	// written as truce writes bundles (altered).
	ErrFormat = errors.New("not a valid audit bundle")
	// ErrDigest: the digest is not that of the bundle's content.
	ErrDigest = errors.New("audit bundle digest does not match its content")
	// ErrExporter: the exporter is not a principal of the last policy of
	// the chain, or its signature over the digest does not verify.
	ErrExporter = errors.New("audit bundle exporter signature does not verify")
	// ErrPolicy: the policy chain is empty or malformed, or a succession
	// in it was not approved by the quorum of the policy before.
	ErrPolicy = errors.New("audit bundle policy chain refused")
	// ErrEnclave: the enclave's certificate chain or evidence does not
	// check against the first policy.
	ErrEnclave = errors.New("audit bundle enclave attestation refused")
	// ErrAudit: the audit log or its checkpoint does not check, or the
	// changes of policy it records are not the bundle's chain.
	ErrAudit = errors.New("audit bundle audit log refused")
	// ErrReceipt: a receipt does not verify, or receipts and audit log
	// disagree.
	ErrReceipt = errors.New("audit bundle receipts refused")
)

// Bundle is the content of an audit bundle file. Its JSON field names and
// order are the file format (docs/spec/bundle.md).
type Bundle struct {
	// Format is always Format; Version is Version.
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Exporter names the principal who made the bundle; Exported is when,
	// by its clock. Both are covered by the exporter's signature only.
	Exporter string    `json:"exporter"`
	Exported time.Time `json:"exported"`
	// Policies is the enclave's chain of policies, as GET
	// /v1/policy/chain answers it, from the first policy (the one its
	// certificate and evidence bind) to the one in force at the audit
	// checkpoint: each link's exact bytes, hash, and the approvals that
	// made it succeed the link before.
	Policies []api.PolicyLink `json:"policies"`
	// Attestation is the enclave's evidence, certificate chain (DER, leaf
	// first) and the nonce the evidence binds, as GET /v1/attestation
	// answered.
	Attestation api.Attestation `json:"attestation"`
	// Audit is the enclave's audit log with its signed checkpoint, as GET
	// /v1/audit answered.
	Audit api.AuditLog `json:"audit"`
	// Receipts are the receipts of the runs and pipelines in the audit
	// log, in the order of their entries.
	Receipts []receipt.Receipt `json:"receipts"`
	// Withheld are the hex digests of the receipts of runs in the audit
	// log that the exporter may not read, in the order of their entries.
	Withheld []string `json:"withheld"`
	// Digest is the hex SHA-256 of Domain followed by every byte of the
	// file before the digest member (see Digest).
	Digest string `json:"digest"`
	// Signature is the exporter's ECDSA signature (ASN.1) over the 32
	// bytes of Digest, with the key of its certificate in the policy.
	Signature []byte `json:"signature"`
}

// digestMember starts the digest member, the last but one of a bundle's
// JSON object; the digest covers every byte before it.
var digestMember = []byte(`,"digest":"`)

// filePrefix starts every bundle file of this version.
var filePrefix = []byte(`{"format":"` + Format + `","version":` + strconv.Itoa(Version) + `,`)

// Digest computes the digest of b: the SHA-256 of Domain followed by the
// bytes of b's file (Marshal) that come before its digest member, that is
// before the last occurrence of `,"digest":"`. The digest and signature
// come last, so the digest covers every other byte of the file.
func Digest(b *Bundle) ([32]byte, error) {
	data, err := Marshal(b)
	if err != nil {
		return [32]byte{}, err
	}
	d, _ := rawDigest(data)
	return d, nil
}

// rawDigest computes the digest of a bundle file's bytes; it reports false
// if they hold no digest member.
func rawDigest(data []byte) ([32]byte, bool) {
	i := bytes.LastIndex(data, digestMember)
	if i < 0 {
		return [32]byte{}, false
	}
	h := sha256.New()
	h.Write([]byte(Domain))
	h.Write(data[:i])
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, true
}

// Sign sets b's format, version, digest and signature, signing the digest
// with the exporter's key.
func (b *Bundle) Sign(key *ecdsa.PrivateKey) error {
	b.Format, b.Version = Format, Version
	d, err := Digest(b)
	if err != nil {
		return err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		return fmt.Errorf("signing the bundle: %w", err)
	}
	b.Digest, b.Signature = hex.EncodeToString(d[:]), sig
	return nil
}

// Marshal returns the bundle file: b's JSON as encoding/json writes it,
// and a newline.
func Marshal(b *Bundle) ([]byte, error) {
	j, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding the bundle: %w", err)
	}
	return append(j, '\n'), nil
}

// Parse reads a bundle file. It checks the digest first, then refuses
// anything but what Marshal writes, byte for byte, so that what the
// digest covers is exactly what is read, by this or any other JSON
// parser. Parse checks the form only; Verify checks the content.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d this truce reads", ErrFormat, len(data), MaxSize)
	}
	if !bytes.HasPrefix(data, filePrefix) {
		// Say what the file is, if it is JSON at all.
		var head struct {
			Format  string `json:"format"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if head.Format != Format {
			return nil, fmt.Errorf("%w: format %q, not %q", ErrFormat, head.Format, Format)
		}
		if head.Version != Version {
			return nil, fmt.Errorf("%w: version %d; this truce reads version %d", ErrFormat, head.Version, Version)
		}
		return nil, fmt.Errorf("%w: it does not start as truce writes bundles: it was altered", ErrFormat)
	}
	i := bytes.LastIndex(data, digestMember)
	if i < 0 {
		return nil, fmt.Errorf("%w: no digest member", ErrFormat)
	}
	d, _ := rawDigest(data)
	want := hex.EncodeToString(d[:])
	if stated := data[i+len(digestMember):]; !bytes.HasPrefix(stated, []byte(want+`"`)) {
		return nil, fmt.Errorf("%w: the bytes before the digest hash to %s, not to the digest the bundle states: it was altered", ErrDigest, want)
	}
	b := new(Bundle)
	if err := json.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	again, err := Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: the file is not written as truce writes bundles (first difference at byte %d): it was altered", ErrFormat, firstDiff(again, data))
	}
	return b, nil
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
