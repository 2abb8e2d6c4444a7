// Package fileseek is the file-seek example: a database owner uploads a
// file of fixed-size records, a querier uploads the record numbers it
// wants, and the program fetches them by seeking in the file (from the
// start, from the current offset — backwards too — and from the end). The
// querier reads its records; the owner never learns which were asked for,
// and the querier never sees the others.
//
// The result file is an 8-byte little-endian count, written last by
// seeking back to the start of the file, then the records in query order,
// then the last record of the database (found from the end).
//
// ParseQueries reads untrusted bytes: it must never panic.
package fileseek

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
)

// The guest paths of the example's files.
const (
	RecordsPath = "/input/records.dat"
	QueriesPath = "/input/queries.txt"
	OutputPath  = "/output/selected.dat"
)

// RecordSize is the size of one record in bytes.
const RecordSize = 64

// Sizes: records in the database, queries.
const (
	NormalRecords, NormalQueries = 4096, 200
	LargeRecords, LargeQueries   = 262144, 100000
)

// ErrQuery is returned for a query that is not a record number of the
// database.
var ErrQuery = errors.New("the query is not a record number")

// Generate returns a database of n records and q queries into it, from a
// fixed seed: the same sizes always give the same bytes.
func Generate(n, q int) (records, queries []byte) {
	r := rand.New(rand.NewPCG(9, 0xf11e))
	records = make([]byte, 0, n*RecordSize)
	for i := range n {
		rec := fmt.Appendf(nil, "record %08d ", i)
		for len(rec) < RecordSize-1 {
			rec = append(rec, byte('a'+r.IntN(26)))
		}
		records = append(records, append(rec, '\n')...)
	}
	var qb bytes.Buffer
	for range q {
		fmt.Fprintln(&qb, r.IntN(n))
	}
	return records, qb.Bytes()
}

// Inputs returns the two parties' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n, q := NormalRecords, NormalQueries
	if large {
		n, q = LargeRecords, LargeQueries
	}
	rec, qs := Generate(n, q)
	return map[string][]byte{RecordsPath: rec, QueriesPath: qs}
}

// ParseQueries reads one record number per line (blank lines skipped),
// each below records.
func ParseQueries(b []byte, records int64) ([]int64, error) {
	var out []int64
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		q, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil || q < 0 || q >= records {
			return nil, fmt.Errorf("line %d %q: %w below %d", i+1, line, ErrQuery, records)
		}
		out = append(out, q)
	}
	return out, nil
}

// Main is the program: it fetches the queried records of RecordsPath
// into OutputPath, below root, by seeking.
func Main(root string, stdout io.Writer) error {
	db, err := os.Open(root + RecordsPath)
	if err != nil {
		return fmt.Errorf("opening the records: %w", err)
	}
	defer db.Close()
	size, err := db.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("finding the size of the records: %w", err)
	}
	if size%RecordSize != 0 || size == 0 {
		return fmt.Errorf("the records file holds %d bytes, not a whole positive number of %d-byte records", size, RecordSize)
	}
	qb, err := os.ReadFile(root + QueriesPath)
	if err != nil {
		return fmt.Errorf("reading the queries: %w", err)
	}
	queries, err := ParseQueries(qb, size/RecordSize)
	if err != nil {
		return err
	}
	// Write-only: the program has no read right on its output.
	out, err := os.OpenFile(root+OutputPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating the result: %w", err)
	}
	defer out.Close()
	// A placeholder for the count, filled in at the end.
	if _, err := out.Write(make([]byte, 8)); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	rec := make([]byte, RecordSize)
	pos := size // the offset db is at
	for _, q := range queries {
		// Hop relative to where the last read left off, backwards or
		// forwards.
		off, err := db.Seek(q*RecordSize-pos, io.SeekCurrent)
		if err != nil || off != q*RecordSize {
			return fmt.Errorf("seeking to record %d: at %d: %v", q, off, err)
		}
		if _, err := io.ReadFull(db, rec); err != nil {
			return fmt.Errorf("reading record %d: %w", q, err)
		}
		pos = off + RecordSize
		if _, err := out.Write(rec); err != nil {
			return fmt.Errorf("writing the result: %w", err)
		}
	}
	if _, err := db.Seek(-RecordSize, io.SeekEnd); err != nil {
		return fmt.Errorf("seeking to the last record: %w", err)
	}
	if _, err := io.ReadFull(db, rec); err != nil {
		return fmt.Errorf("reading the last record: %w", err)
	}
	if _, err := out.Write(rec); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seeking to the start of the result: %w", err)
	}
	if err := binary.Write(out, binary.LittleEndian, uint64(len(queries))); err != nil {
		return fmt.Errorf("writing the count: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "fetched %d of %d records\n", len(queries), size/RecordSize)
	return err
}
