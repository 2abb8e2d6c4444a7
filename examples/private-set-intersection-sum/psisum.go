// Package psisum is the private-set-intersection-sum example: a shop
// uploads its customers' identifiers with what each spent, an advertiser
// uploads the identifiers of the people who saw a campaign, and the program
// computes in the enclave how many of the shop's customers saw it and what
// they spent in total. Both learn those two numbers; neither learns the
// other's identifiers.
//
// Identifiers are 128-bit (two little-endian uint64, as Veracruz's (u64,
// u64)). The shop's file is records of identifier then a little-endian
// uint32 value (20 bytes each); the advertiser's file is identifiers (16
// bytes each); the output is JSON {"count": n, "sum": s}. A customer listed
// twice by the shop counts twice, as in Veracruz's example. The program
// must never write or print an identifier.
package psisum

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/private-set-intersection-sum.wasm"
	DataPath    = "/input/psi-sum/spend.dat"
	SamplePath  = "/input/psi-sum/viewers.dat"
	OutputPath  = "/output/psi-sum.json"
)

// Sizes of the generated inputs: customers of the shop, viewers of the
// campaign, and how many are both.
const (
	NormalCustomers, NormalViewers, NormalShared = 5_000, 3_000, 700
	LargeCustomers, LargeViewers, LargeShared    = 2_000_000, 1_000_000, 250_000
)

// ErrFormat is returned for a file that is not whole records.
var ErrFormat = errors.New("file is not whole records")

// ID identifies a person, as both parties know them.
type ID [2]uint64

// Entry is one customer of the shop and what they spent.
type Entry struct {
	ID    ID
	Value uint32
}

// Result is what both parties learn.
type Result struct {
	Count int    `json:"count"`
	Sum   uint64 `json:"sum"`
}

// Generate returns the shop's and the advertiser's files, from a fixed
// seed: the same arguments always give the same bytes.
func Generate(customers, viewers, shared int) (data, sample []byte) {
	r := rand.New(rand.NewPCG(3, 0x5e5a))
	id := func() ID { return ID{r.Uint64(), r.Uint64()} }
	entries := make([]Entry, customers)
	for i := range entries {
		entries[i] = Entry{id(), uint32(r.IntN(50_000))}
	}
	ids := make([]ID, viewers)
	for i := range ids {
		if i < shared {
			ids[i] = entries[r.IntN(customers)].ID
		} else {
			ids[i] = id()
		}
	}
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return EncodeData(entries), EncodeSample(ids)
}

// Inputs returns the data owners' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	d, s := Generate(NormalCustomers, NormalViewers, NormalShared)
	if large {
		d, s = Generate(LargeCustomers, LargeViewers, LargeShared)
	}
	return map[string][]byte{DataPath: d, SamplePath: s}
}

// EncodeData writes the shop's file.
func EncodeData(es []Entry) []byte {
	out := make([]byte, 20*len(es))
	for i, e := range es {
		binary.LittleEndian.PutUint64(out[20*i:], e.ID[0])
		binary.LittleEndian.PutUint64(out[20*i+8:], e.ID[1])
		binary.LittleEndian.PutUint32(out[20*i+16:], e.Value)
	}
	return out
}

// DecodeData parses the shop's file.
func DecodeData(b []byte) ([]Entry, error) {
	if len(b)%20 != 0 {
		return nil, fmt.Errorf("spend file of %d bytes, not 20-byte records: %w", len(b), ErrFormat)
	}
	es := make([]Entry, len(b)/20)
	for i := range es {
		es[i] = Entry{ID{binary.LittleEndian.Uint64(b[20*i:]), binary.LittleEndian.Uint64(b[20*i+8:])},
			binary.LittleEndian.Uint32(b[20*i+16:])}
	}
	return es, nil
}

// EncodeSample writes the advertiser's file.
func EncodeSample(ids []ID) []byte {
	out := make([]byte, 16*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint64(out[16*i:], id[0])
		binary.LittleEndian.PutUint64(out[16*i+8:], id[1])
	}
	return out
}

// DecodeSample parses the advertiser's file.
func DecodeSample(b []byte) ([]ID, error) {
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("viewers file of %d bytes, not 16-byte identifiers: %w", len(b), ErrFormat)
	}
	ids := make([]ID, len(b)/16)
	for i := range ids {
		ids[i] = ID{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
	}
	return ids, nil
}

// IntersectionSum counts the entries whose identifier is in sample and
// sums their values.
func IntersectionSum(data []Entry, sample []ID) Result {
	in := make(map[ID]struct{}, len(sample))
	for _, id := range sample {
		in[id] = struct{}{}
	}
	var r Result
	for _, e := range data {
		if _, ok := in[e.ID]; ok {
			r.Count++
			r.Sum += uint64(e.Value)
		}
	}
	return r
}

// Main is the program: it reads DataPath and SamplePath below root, writes
// the Result to OutputPath below root and prints the input sizes.
func Main(root string, stdout io.Writer) error {
	db, err := os.ReadFile(root + DataPath)
	if err != nil {
		return fmt.Errorf("reading the spend file: %w", err)
	}
	data, err := DecodeData(db)
	if err != nil {
		return err
	}
	sb, err := os.ReadFile(root + SamplePath)
	if err != nil {
		return fmt.Errorf("reading the viewers file: %w", err)
	}
	sample, err := DecodeSample(sb)
	if err != nil {
		return err
	}
	out, err := json.Marshal(IntersectionSum(data, sample))
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d customers, %d viewers\n", len(data), len(sample))
	return err
}
