package pas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest"
)

// ErrLogTampered is returned when the issuance log does not verify: an
// entry was changed, removed, reordered or inserted after it was written.
var ErrLogTampered = errors.New("issuance log does not verify")

// logDomain starts every entry hash.
const logDomain = "truce-pas-log-v1"

// Entry is one issuance in the log.
type Entry struct {
	// Seq numbers the entries from 1 without gaps.
	Seq int64
	// Time is when the certificate was issued.
	Time time.Time
	// Serial is the certificate's serial number in lower-case hex.
	Serial string
	// Identity is what the certificate attests.
	Identity attest.Identity
	// Cert is the certificate's DER.
	Cert []byte
	// Prev is the hash of the previous entry (zero for the first); Hash is
	// EntryHash of this entry.
	Prev, Hash [32]byte
}

// EntryHash is the hash chaining entry e to the one before it:
//
//	SHA-256( "truce-pas-log-v1" ‖ prev ‖ seq (8 bytes big-endian) ‖
//	         time in Unix nanoseconds (8 bytes big-endian) ‖ SHA-256(cert DER) )
//
// The certificate covers the serial and the attested identity, so they are
// covered too; every field has a fixed length.
func EntryHash(prev [32]byte, seq int64, t time.Time, certDER []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(logDomain))
	h.Write(prev[:])
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(t.UnixNano()))
	h.Write(b[:])
	c := sha256.Sum256(certDER)
	h.Write(c[:])
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// CheckEntry checks one entry given the sequence number and hash of the
// entry before it, and, with ca non-nil, the certificate's signature.
func CheckEntry(e Entry, prevSeq int64, prev [32]byte, ca *x509.Certificate) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: entry %d: %s", ErrLogTampered, e.Seq, fmt.Sprintf(format, a...))
	}
	if e.Seq != prevSeq+1 {
		return bad("follows entry %d (entries removed or reordered)", prevSeq)
	}
	if e.Prev != prev {
		return bad("does not chain to the entry before it")
	}
	if EntryHash(prev, e.Seq, e.Time, e.Cert) != e.Hash {
		return bad("hash does not match its contents")
	}
	cert, err := x509.ParseCertificate(e.Cert)
	if err != nil {
		return bad("certificate does not parse: %v", err)
	}
	if hex.EncodeToString(cert.SerialNumber.Bytes()) != e.Serial {
		return bad("serial column %s is not the certificate's", e.Serial)
	}
	id, err := attest.IdentityOf(cert)
	if err != nil {
		return bad("%v", err)
	}
	if id.Platform != e.Identity.Platform || !bytes.Equal(id.Measurement, e.Identity.Measurement) ||
		id.PolicyHash != e.Identity.PolicyHash || id.Simulated != e.Identity.Simulated {
		return bad("identity columns are not the certificate's")
	}
	if ca != nil {
		if err := cert.CheckSignatureFrom(ca); err != nil {
			return bad("certificate not signed by this service's CA: %v", err)
		}
	}
	return nil
}

// VerifyLog verifies the issuance log of the service in dir, kept in the
// SQLite file there: see VerifyLogIn.
func VerifyLog(dir string) (int, error) { return VerifyLogIn(context.Background(), dir, "") }

// VerifyLogIn verifies the issuance log of the service in dir, kept in
// database (see Config.Database; "" is the SQLite file in dir): entries are
// numbered without gaps, each hash covers the previous one, each row says
// what its certificate says, and each certificate is signed by the
// service's CA. It returns the number of entries. It only reads, so it may
// run while the service (or its replicas) serve.
func VerifyLogIn(ctx context.Context, dir, database string) (int, error) {
	var n int
	err := ReadLogIn(ctx, dir, database, func(e Entry) error { n = int(e.Seq); return nil })
	return n, err
}

// ReadLog calls fn for each entry of the SQLite log in dir: see ReadLogIn.
func ReadLog(dir string, fn func(Entry) error) error {
	return ReadLogIn(context.Background(), dir, "", fn)
}

// ReadLogIn calls fn for each entry of the log of the service in dir, kept
// in database (see Config.Database), in order, verifying the chain and the
// CA's signature as it goes (fn sees only entries that verified so far).
func ReadLogIn(ctx context.Context, dir, database string, fn func(Entry) error) error {
	ca, err := readCACert(dir)
	if err != nil {
		return err
	}
	s, err := openSQL(ctx, dir, database, true)
	if err != nil {
		return err
	}
	defer s.Close()
	var prev [32]byte
	var n int64
	return s.entries(ctx, s.db, 0, func(e Entry) error {
		if err := CheckEntry(e, n, prev, ca); err != nil {
			return err
		}
		n, prev = e.Seq, e.Hash
		return fn(e)
	})
}
