package pas

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/paswire"
)

// Store keeps what a service must not lose and what its replicas share:
// the issuance log and the outstanding nonces. OpenStore opens the SQLite
// or the PostgreSQL implementation. Implementations are safe for
// concurrent use.
type Store interface {
	// Append adds the certificate (DER) issued at t with identity id and
	// returns the new entry once it is durably stored. Appends are
	// serialised across every process sharing the store, and each one
	// first verifies the entries others appended since this store last
	// looked, so it never extends a chain it has not checked.
	Append(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte) (Entry, error)
	// AppendSingle is Append for a policy that allows one enclave
	// instance: in the same transaction, under the same lock, it first
	// checks that every entry for id's policy certifies the key certDER
	// certifies, and refuses with an error wrapping paswire.ErrSecondInstance
	// otherwise, appending nothing. Two enclaves racing to be first
	// cannot both win. A store remembers what it checked of each policy,
	// so each append reads only the policy's entries appended since (by
	// any process), not its whole history.
	AppendSingle(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte) (Entry, error)
	// Head returns the number of entries and the hash of the last one, as
	// this store last saw them. Keep a copy elsewhere to detect a log
	// rewritten from the start.
	Head() (int64, [32]byte)
	// Entries calls fn for each entry in order, without verifying them.
	Entries(fn func(Entry) error) error
	// Verify checks the whole log (see VerifyLogIn) and returns its length.
	Verify(ca *x509.Certificate) (int, error)
	// PutNonce remembers nonce as unused until expires; it returns paswire.ErrBusy
	// when max unexpired nonces are outstanding at now.
	PutNonce(ctx context.Context, nonce [paswire.NonceSize]byte, expires, now time.Time, max int) error
	// TakeNonce forgets nonce and returns when it expires; ok is false if
	// the store did not hold it (never issued, or taken already — by any
	// replica).
	TakeNonce(ctx context.Context, nonce [paswire.NonceSize]byte) (expires time.Time, ok bool, err error)
	// GetCollateral returns the cached vendor document for url and when
	// it was fetched; ok is false if none is cached.
	GetCollateral(ctx context.Context, url string) (body []byte, fetched time.Time, ok bool, err error)
	// PutCollateral caches body as url's document, fetched at fetched.
	PutCollateral(ctx context.Context, url string, body []byte, fetched time.Time) error
	// CollateralTimes calls fn for each cached document, oldest first.
	CollateralTimes(ctx context.Context, fn func(url string, fetched time.Time) error) error
	// Ping checks the store's database answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// IsPostgres reports whether database names a PostgreSQL database
// (a postgres:// or postgresql:// URL).
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// OpenStore opens the store of the service in dir: with database "" the
// SQLite file dir/log.db (nonces kept in memory: one process serves), with
// a postgres:// URL that PostgreSQL database (log and nonces shared by all
// replicas using it). Tables are created if missing, and the whole log is
// checked: a log that does not verify is refused with ErrLogTampered, so a
// service never extends a tampered log.
func OpenStore(ctx context.Context, dir, database string) (Store, error) {
	s, err := openSQL(ctx, dir, database, false)
	if err != nil {
		return nil, err
	}
	n, head, err := s.verify(ctx, nil)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.seq, s.head = int64(n), head
	return s, nil
}

// dialect is what differs between the SQL databases.
type dialect struct {
	name   string
	schema []string
	// lock, run first in every append's transaction, serialises appends
	// across processes ("" when the transaction itself does).
	lock string
	// rebind turns ? placeholders into the database's.
	rebind func(string) string
}

var sqliteDialect = dialect{
	name: "SQLite",
	schema: []string{`CREATE TABLE IF NOT EXISTS issuance (
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
)`, `CREATE INDEX IF NOT EXISTS issuance_policy ON issuance (policy_hash, seq)`,
		`CREATE TABLE IF NOT EXISTS collateral (
	url        TEXT PRIMARY KEY,
	body       BLOB NOT NULL,
	fetched_ns INTEGER NOT NULL
)`},
	// _txlock=immediate: BEGIN takes SQLite's write lock.
	rebind: func(q string) string { return q },
}

// pgLockKey is the transaction-scoped advisory lock every append takes
// (an arbitrary 64-bit number: "truce-pas-log" would not fit).
const pgLockKey = 0x7472756365_706173 // "truce" "pas"

var postgresDialect = dialect{
	name: "PostgreSQL",
	schema: []string{`CREATE TABLE IF NOT EXISTS issuance (
	seq         BIGINT PRIMARY KEY,
	time_ns     BIGINT NOT NULL,
	serial      TEXT NOT NULL UNIQUE,
	platform    TEXT NOT NULL,
	measurement BYTEA NOT NULL,
	policy_hash BYTEA NOT NULL,
	simulated   INTEGER NOT NULL,
	cert        BYTEA NOT NULL,
	prev        BYTEA NOT NULL,
	hash        BYTEA NOT NULL
)`, `CREATE INDEX IF NOT EXISTS issuance_policy ON issuance (policy_hash, seq)`,
		// Unlogged: a database crash empties it, which only makes clients
		// fetch fresh nonces; it can never bring a used nonce back.
		`CREATE UNLOGGED TABLE IF NOT EXISTS nonce (
	nonce      BYTEA PRIMARY KEY,
	expires_ns BIGINT NOT NULL
)`, `CREATE TABLE IF NOT EXISTS collateral (
	url        TEXT PRIMARY KEY,
	body       BYTEA NOT NULL,
	fetched_ns BIGINT NOT NULL
)`},
	lock:   "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgLockKey, 10) + ")",
	rebind: dollarParams,
}

// dollarParams numbers ? placeholders as $1, $2, …; the queries of this
// file hold no other question marks.
func dollarParams(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqlStore is the Store over database/sql.
type sqlStore struct {
	db  *sql.DB
	d   dialect
	mu  sync.Mutex // serialises this process's appends
	seq int64      // last entry seen and verified
	// head is the hash of entry seq.
	head [32]byte
	// nonces is nil when the database keeps them.
	nonces *memNonces
	// lastSweep is when expired nonces were last deleted (Unix ns).
	lastSweep atomic.Int64
	// singleRows counts the log rows read by single-instance checks.
	singleRows atomic.Int64
	// singles remembers, by policy hash, what the single-instance checks
	// of this store found (under mu): each append then reads only the
	// policy's entries appended since, by any process.
	singles map[[32]byte]checkedPolicy
}

// checkedPolicy is what a single-instance check found of one policy:
// every entry up to seq certifies first's key.
type checkedPolicy struct {
	first Instance
	seq   int64
}

// maxSingles bounds the policies a store remembers checks of; beyond,
// it forgets them all, and checks each policy's whole history once more.
const maxSingles = 1 << 12

func openSQL(ctx context.Context, dir, database string, readOnly bool) (*sqlStore, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	switch {
	case database == "":
		d = sqliteDialect
		db, err = openSQLite(filepath.Join(dir, LogFile), readOnly)
	case IsPostgres(database):
		d = postgresDialect
		db, err = openPostgres(ctx, database)
	default:
		return nil, fmt.Errorf("database %q: give a postgres:// URL, or none for the SQLite file in the service directory", redact(database))
	}
	if err != nil {
		return nil, err
	}
	s := &sqlStore{db: db, d: d}
	if d.name == sqliteDialect.name {
		s.nonces = &memNonces{m: map[[paswire.NonceSize]byte]time.Time{}}
	}
	if !readOnly {
		if err := s.createTables(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("creating the issuance log tables (%s): %w", d.name, err)
		}
	}
	return s, nil
}

// createTables makes the tables if missing, under the append lock: two
// replicas starting at once would otherwise race in PostgreSQL's catalog.
func (s *sqlStore) createTables(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return err
		}
	}
	for _, q := range s.d.schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func openSQLite(path string, readOnly bool) (*sql.DB, error) {
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

// MaxPostgresConns bounds each process's connections to PostgreSQL.
const MaxPostgresConns = 16

func openPostgres(ctx context.Context, database string) (*sql.DB, error) {
	db, err := sql.Open("pgx", database)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL database %s: %w", redact(database), err)
	}
	db.SetMaxOpenConns(MaxPostgresConns)
	db.SetMaxIdleConns(MaxPostgresConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL database %s: %w", redact(database), err)
	}
	return db, nil
}

// redact hides the password of a database URL for messages.
func redact(database string) string {
	u, err := url.Parse(database)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (s *sqlStore) Append(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A client going away must not interrupt a write in progress.
	ctx = context.WithoutCancel(ctx)
	e, err := s.append(ctx, t, serial, id, certDER, false)
	if err != nil {
		return Entry{}, fmt.Errorf("appending to the issuance log: %w", err)
	}
	return e, nil
}

func (s *sqlStore) AppendSingle(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	e, err := s.append(ctx, t, serial, id, certDER, true)
	if errors.Is(err, paswire.ErrSecondInstance) {
		return Entry{}, err
	}
	if err != nil {
		return Entry{}, fmt.Errorf("appending to the issuance log: %w", err)
	}
	return e, nil
}

// firstInstance returns the first instance the log certified for the
// policy hash ph, if any, reading through q.
func (s *sqlStore) firstInstance(ctx context.Context, q querier, ph [32]byte) (Instance, bool, error) {
	rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT seq, time_ns, cert FROM issuance WHERE policy_hash = ? ORDER BY seq LIMIT 1`), ph[:])
	if err != nil {
		return Instance{}, false, fmt.Errorf("reading the issuance log: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return Instance{}, false, rows.Err()
	}
	s.singleRows.Add(1)
	var (
		seq, ns int64
		der     []byte
	)
	if err := rows.Scan(&seq, &ns, &der); err != nil {
		return Instance{}, false, fmt.Errorf("reading the issuance log: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Instance{}, false, fmt.Errorf("%w: entry %d: certificate does not parse: %v", ErrLogTampered, seq, err)
	}
	return Instance{PolicyHash: ph, Key: KeyFingerprint(cert), First: time.Unix(0, ns), FirstSeq: seq}, true, nil
}

// otherKeys reports whether any entry for ph certifies a key other than
// fp (the first instance is returned to name it, or ok false if there is
// none). It reads only the entries after those an earlier check of this
// store found all certifying fp (s.singles): entries other processes
// appended since are read, and the caller holds the append lock, so none
// is missed. Run under s.mu.
func (s *sqlStore) otherKeys(ctx context.Context, q querier, ph, fp [32]byte) (first Instance, ok, other bool, err error) {
	after := int64(0)
	if c, known := s.singles[ph]; known {
		if c.first.Key != fp {
			return c.first, true, true, nil
		}
		first, after = c.first, c.seq
	} else {
		first, ok, err = s.firstInstance(ctx, q, ph)
		if err != nil || !ok {
			return Instance{}, false, false, err
		}
		if first.Key != fp {
			return first, true, true, nil
		}
	}
	// The first is this key; so is every later one, since each append
	// checked it (but a log written without the check, such as before
	// the policy's service learnt of it, is checked too).
	rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT seq, cert FROM issuance WHERE policy_hash = ? AND seq > ? ORDER BY seq`), ph[:], after)
	if err != nil {
		return Instance{}, false, false, fmt.Errorf("reading the issuance log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s.singleRows.Add(1)
		var seq int64
		var der []byte
		if err := rows.Scan(&seq, &der); err != nil {
			return Instance{}, false, false, fmt.Errorf("reading the issuance log: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return Instance{}, false, false, fmt.Errorf("%w: entry %d: certificate does not parse: %v", ErrLogTampered, seq, err)
		}
		if KeyFingerprint(cert) != fp {
			return first, true, true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return Instance{}, false, false, fmt.Errorf("reading the issuance log: %w", err)
	}
	return first, true, false, nil
}

// append runs one transaction: take the append lock, verify and adopt what
// other processes appended, insert the entry chained to the head. The
// primary key on seq refuses a second entry with the same number, so even
// a broken lock could not fork the chain. On failure s.seq and s.head are
// left as they were; the next append catches up with whatever was stored.
func (s *sqlStore) append(ctx context.Context, t time.Time, serial string, id attest.Identity, certDER []byte, single bool) (Entry, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, err
	}
	defer tx.Rollback()
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return Entry{}, fmt.Errorf("taking the append lock: %w", err)
		}
	}
	seq, head := s.seq, s.head
	err = s.entries(ctx, tx, seq, func(e Entry) error {
		if err := CheckEntry(e, seq, head, nil); err != nil {
			return err
		}
		seq, head = e.Seq, e.Hash
		return nil
	})
	if err != nil {
		return Entry{}, err
	}
	var first Instance
	if single {
		cert, err := x509.ParseCertificate(certDER)
		if err != nil {
			return Entry{}, fmt.Errorf("parsing the certificate to log: %w", err)
		}
		fp := KeyFingerprint(cert)
		f, ok, other, err := s.otherKeys(ctx, tx, id.PolicyHash, fp)
		switch {
		case err != nil:
			return Entry{}, err
		case other:
			return Entry{}, secondInstanceError(f, fp)
		case ok:
			first = f
		default:
			first = Instance{PolicyHash: id.PolicyHash, Key: fp, First: time.Unix(0, t.UnixNano()), FirstSeq: seq + 1}
		}
	}
	e := Entry{Seq: seq + 1, Time: time.Unix(0, t.UnixNano()), Serial: serial, Identity: id, Cert: certDER, Prev: head}
	e.Hash = EntryHash(e.Prev, e.Seq, e.Time, certDER)
	sim := 0
	if id.Simulated {
		sim = 1
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO issuance
		(seq, time_ns, serial, platform, measurement, policy_hash, simulated, cert, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.Seq, e.Time.UnixNano(), serial, id.Platform, id.Measurement, id.PolicyHash[:], sim, certDER, e.Prev[:], e.Hash[:]); err != nil {
		return Entry{}, err
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, err
	}
	s.seq, s.head = e.Seq, e.Hash
	if single {
		// Only once committed: every entry of the policy up to e, the
		// one just appended, certifies first's key.
		if s.singles == nil || len(s.singles) >= maxSingles {
			s.singles = map[[32]byte]checkedPolicy{}
		}
		s.singles[id.PolicyHash] = checkedPolicy{first: first, seq: e.Seq}
	}
	return e, nil
}

func (s *sqlStore) Head() (int64, [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, s.head
}

func (s *sqlStore) Close() error { return s.db.Close() }

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) Entries(fn func(Entry) error) error {
	return s.entries(context.Background(), s.db, 0, fn)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// entries calls fn for each entry after seq after, in order.
func (s *sqlStore) entries(ctx context.Context, q querier, after int64, fn func(Entry) error) error {
	rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT seq, time_ns, serial, platform, measurement, policy_hash, simulated, cert, prev, hash
		FROM issuance WHERE seq > ? ORDER BY seq`), after)
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

func (s *sqlStore) Verify(ca *x509.Certificate) (int, error) {
	n, _, err := s.verify(context.Background(), ca)
	return n, err
}

// verify checks sequence numbers, the hash chain and that each row's
// columns are what its certificate says; with ca, also each certificate's
// signature.
func (s *sqlStore) verify(ctx context.Context, ca *x509.Certificate) (int, [32]byte, error) {
	var prev [32]byte
	var n int64
	err := s.entries(ctx, s.db, 0, func(e Entry) error {
		if err := CheckEntry(e, n, prev, ca); err != nil {
			return err
		}
		n, prev = e.Seq, e.Hash
		return nil
	})
	return int(n), prev, err
}

func (s *sqlStore) PutNonce(ctx context.Context, nonce [paswire.NonceSize]byte, expires, now time.Time, max int) error {
	if s.nonces != nil {
		return s.nonces.put(nonce, expires, now, max)
	}
	// Expired nonces are swept at most once a second, and whenever the
	// bound is reached. Concurrent replicas may together overshoot max by
	// a few: the bound is against floods, not a quota.
	if last := s.lastSweep.Load(); now.UnixNano()-last >= int64(time.Second) && s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		if err := s.sweepNonces(ctx, now); err != nil {
			return err
		}
	}
	for try := 0; ; try++ {
		res, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO nonce (nonce, expires_ns)
			SELECT ?, ? WHERE (SELECT count(*) FROM nonce) < ?`), nonce[:], expires.UnixNano(), max)
		if err != nil {
			return fmt.Errorf("storing the nonce: %w", err)
		}
		n, err := res.RowsAffected()
		switch {
		case err != nil:
			return fmt.Errorf("storing the nonce: %w", err)
		case n == 1:
			return nil
		case try > 0:
			return paswire.ErrBusy
		}
		if err := s.sweepNonces(ctx, now); err != nil {
			return err
		}
	}
}

func (s *sqlStore) sweepNonces(ctx context.Context, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM nonce WHERE expires_ns <= ?`), now.UnixNano()); err != nil {
		return fmt.Errorf("sweeping expired nonces: %w", err)
	}
	return nil
}

func (s *sqlStore) TakeNonce(ctx context.Context, nonce [paswire.NonceSize]byte) (time.Time, bool, error) {
	if s.nonces != nil {
		exp, ok := s.nonces.take(nonce)
		return exp, ok, nil
	}
	// One statement: of two replicas taking the same nonce, exactly one
	// deletes the row.
	var ns int64
	err := s.db.QueryRowContext(ctx, s.d.rebind(`DELETE FROM nonce WHERE nonce = ? RETURNING expires_ns`), nonce[:]).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("taking the nonce: %w", err)
	}
	return time.Unix(0, ns), true, nil
}

func (s *sqlStore) GetCollateral(ctx context.Context, url string) ([]byte, time.Time, bool, error) {
	var body []byte
	var ns int64
	err := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT body, fetched_ns FROM collateral WHERE url = ?`), url).Scan(&body, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("reading cached collateral: %w", err)
	}
	return body, time.Unix(0, ns), true, nil
}

func (s *sqlStore) PutCollateral(ctx context.Context, url string, body []byte, fetched time.Time) error {
	// Both SQLite and PostgreSQL take this upsert.
	_, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO collateral (url, body, fetched_ns) VALUES (?, ?, ?)
		ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_ns = excluded.fetched_ns`), url, body, fetched.UnixNano())
	if err != nil {
		return fmt.Errorf("caching collateral: %w", err)
	}
	return nil
}

func (s *sqlStore) CollateralTimes(ctx context.Context, fn func(string, time.Time) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT url, fetched_ns FROM collateral ORDER BY fetched_ns, url`)
	if err != nil {
		return fmt.Errorf("reading cached collateral: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var url string
		var ns int64
		if err := rows.Scan(&url, &ns); err != nil {
			return fmt.Errorf("reading cached collateral: %w", err)
		}
		if err := fn(url, time.Unix(0, ns)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// memNonces keeps nonces in memory, for a service that is one process.
type memNonces struct {
	mu sync.Mutex
	m  map[[paswire.NonceSize]byte]time.Time // nonce → expiry
}

func (m *memNonces) put(n [paswire.NonceSize]byte, exp, now time.Time, max int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= max {
		for k, e := range m.m {
			if !now.Before(e) {
				delete(m.m, k)
			}
		}
		if len(m.m) >= max {
			return paswire.ErrBusy
		}
	}
	m.m[n] = exp
	return nil
}

func (m *memNonces) take(n [paswire.NonceSize]byte) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.m[n]
	delete(m.m, n)
	return exp, ok
}
