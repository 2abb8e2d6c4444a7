package pas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

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

// Log is the issuance log: an append-only, hash-chained table in an SQLite
// database (WAL, synchronous=FULL, so an appended entry survives a crash
// or power loss once Append returns).
type Log struct {
	db   *sql.DB
	mu   sync.Mutex // serialises appends
	seq  int64
	head [32]byte
}

const schema = `CREATE TABLE IF NOT EXISTS issuance (
	seq         INTEGER PRIMARY KEY,
	time_ns     INTEGER NOT NULL,
	serial      TEXT NOT NULL UNIQUE,
	platform    TEXT NOT NULL,
	measurement BLOB NOT NULL,
	policy_hash BLOB NOT NULL,
	simulated   INTEGER NOT NULL,
	cert        BLOB NOT NULL,
	prev        BLOB NOT NULL,
	hash        BLOB NOT NULL
)`

// OpenLog opens (creating if needed) the log database at path and checks
// its hash chain; a log that does not verify is refused with
// ErrLogTampered, so a service never extends a tampered log.
func OpenLog(path string) (*Log, error) {
	db, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the issuance log in %s: %w", path, err)
	}
	l := &Log{db: db}
	n, head, err := l.verify(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	l.seq, l.head = int64(n), head
	return l, nil
}

func openDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("opening the issuance log: %w", err)
		}
		q.Add("_pragma", "query_only(1)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening the issuance log %s: %w", path, err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("opening the issuance log %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the issuance log %s: %w", path, err)
	}
	return db, nil
}

// Append adds the certificate (DER) issued at t with identity id, and
// returns the new entry once it is durably stored.
func (l *Log) Append(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := Entry{Seq: l.seq + 1, Time: time.Unix(0, t.UnixNano()), Serial: serial, Identity: id, Cert: certDER, Prev: l.head}
	e.Hash = EntryHash(e.Prev, e.Seq, e.Time, certDER)
	sim := 0
	if id.Simulated {
		sim = 1
	}
	// A client going away must not interrupt a write in progress.
	_, err := l.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO issuance
		(seq, time_ns, serial, platform, measurement, policy_hash, simulated, cert, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.Time.UnixNano(), serial, id.Platform, id.Measurement, id.PolicyHash[:], sim, certDER, e.Prev[:], e.Hash[:])
	if err != nil {
		// Whether or not the row was written, continue from what is stored.
		if rerr := l.resync(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Entry{}, fmt.Errorf("appending to the issuance log: %w", err)
	}
	l.seq, l.head = e.Seq, e.Hash
	return e, nil
}

// resync reloads the last sequence number and hash from the database.
func (l *Log) resync() error {
	var seq int64
	var hash []byte
	err := l.db.QueryRow(`SELECT seq, hash FROM issuance ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		l.seq, l.head = 0, [32]byte{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-reading the log head: %w", err)
	}
	if len(hash) != 32 {
		return fmt.Errorf("%w: entry %d has a malformed hash", ErrLogTampered, seq)
	}
	l.seq = seq
	copy(l.head[:], hash)
	return nil
}

// Head returns the number of entries and the hash of the last one. Keep a
// copy elsewhere to detect a log rewritten from the start.
func (l *Log) Head() (int64, [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Close closes the database.
func (l *Log) Close() error { return l.db.Close() }

// Entries calls fn for each entry in order, without verifying them.
func (l *Log) Entries(fn func(Entry) error) error { return entries(l.db, fn) }

func entries(db *sql.DB, fn func(Entry) error) error {
	rows, err := db.Query(`SELECT seq, time_ns, serial, platform, measurement, policy_hash, simulated, cert, prev, hash
		FROM issuance ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("reading the issuance log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e              Entry
			ns             int64
			sim            int
			ph, prev, hash []byte
		)
		if err := rows.Scan(&e.Seq, &ns, &e.Serial, &e.Identity.Platform, &e.Identity.Measurement, &ph, &sim, &e.Cert, &prev, &hash); err != nil {
			return fmt.Errorf("reading the issuance log: %w", err)
		}
		if len(ph) != 32 || len(prev) != 32 || len(hash) != 32 {
			return fmt.Errorf("%w: entry %d has a malformed hash column", ErrLogTampered, e.Seq)
		}
		e.Time = time.Unix(0, ns)
		e.Identity.Simulated = sim != 0
		copy(e.Identity.PolicyHash[:], ph)
		copy(e.Prev[:], prev)
		copy(e.Hash[:], hash)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the issuance log: %w", err)
	}
	return nil
}

// Verify checks the whole log (see VerifyLog) and returns its length.
func (l *Log) Verify(ca *x509.Certificate) (int, error) {
	n, _, err := l.verify(ca)
	return n, err
}

// verify checks sequence numbers, the hash chain and that each row's
// columns are what its certificate says; with ca, also each certificate's
// signature.
func (l *Log) verify(ca *x509.Certificate) (int, [32]byte, error) {
	return verifyDB(l.db, ca)
}

func verifyDB(db *sql.DB, ca *x509.Certificate) (int, [32]byte, error) {
	var prev [32]byte
	var n int64
	err := entries(db, func(e Entry) error {
		if err := CheckEntry(e, n, prev, ca); err != nil {
			return err
		}
		n, prev = e.Seq, e.Hash
		return nil
	})
	return int(n), prev, err
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

// VerifyLog verifies the issuance log of the service in dir: entries are
// numbered without gaps, each hash covers the previous one, each row says
// what its certificate says, and each certificate is signed by the
// service's CA. It returns the number of entries. It only reads, so it may
// run while the service is serving.
func VerifyLog(dir string) (int, error) {
	ca, err := readCACert(dir)
	if err != nil {
		return 0, err
	}
	db, err := openDB(filepath.Join(dir, LogFile), true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n, _, err := verifyDB(db, ca)
	return n, err
}

// ReadLog calls fn for each entry of the log in dir, in order, verifying
// the chain as it goes (fn sees only entries that verified so far).
func ReadLog(dir string, fn func(Entry) error) error {
	ca, err := readCACert(dir)
	if err != nil {
		return err
	}
	db, err := openDB(filepath.Join(dir, LogFile), true)
	if err != nil {
		return err
	}
	defer db.Close()
	var prev [32]byte
	var n int64
	return entries(db, func(e Entry) error {
		if err := CheckEntry(e, n, prev, ca); err != nil {
			return err
		}
		n, prev = e.Seq, e.Hash
		return fn(e)
	})
}
