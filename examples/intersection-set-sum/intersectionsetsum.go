// Package intersectionsetsum is the intersection-set-sum example: an
// advertising platform uploads the identifiers of the people who viewed a
// shop's adverts, the shop uploads what each of its customers spent, and
// the program computes in the enclave how much the customers who had seen
// the adverts spent. Both learn that total and how many customers it
// covers; neither learns the other's list.
//
// The platform's file lists one identifier per line; the shop's file has
// one "identifier,amount" line per customer, the amount in currency units
// with at most two decimals. Identifiers are 1 to 64 characters among
// A-Z a-z 0-9 _ -. The output is JSON {"customers": n, "total_cents": c,
// "total": "units.cents"}. The program must never write or print an
// identifier or a single customer's amount.
package intersectionsetsum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
)

// The guest paths of the example's files.
const (
	ProgramPath   = "/program/intersection-set-sum.wasm"
	ViewersPath   = "/input/adverts/viewers.txt"
	CustomersPath = "/input/shop/customers.csv"
	OutputPath    = "/output/intersection-set-sum.json"
)

// Sizes of the generated inputs: viewers, customers, and customers who
// viewed the adverts.
const (
	NormalViewers, NormalCustomers, NormalShared = 4_000, 3_000, 500
	LargeViewers, LargeCustomers, LargeShared    = 1_000_000, 1_000_000, 200_000
)

// MaxCents bounds one customer's amount (ten billion units) so that sums
// never overflow.
const MaxCents = 1_000_000_000_000

// ErrFormat is returned for a file not in the example's format.
var ErrFormat = errors.New("input is not in the example's format")

// ErrOverflow is returned when the total does not fit in 63 bits of cents.
var ErrOverflow = errors.New("total spend overflows")

// Customer is one line of the shop's file.
type Customer struct {
	ID    string
	Cents int64
}

// Result is what both parties learn.
type Result struct {
	Customers  int    `json:"customers"`
	TotalCents int64  `json:"total_cents"`
	Total      string `json:"total"`
}

// FormatCents writes cents as units with two decimals.
func FormatCents(c int64) string {
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// Generate returns the platform's and the shop's files, from a fixed seed:
// the same arguments always give the same bytes.
func Generate(viewers, customers, shared int) (viewerFile, customerFile []byte) {
	r := rand.New(rand.NewPCG(4, 0x155))
	id := func() string { return fmt.Sprintf("u%016x", r.Uint64()) }
	cs := make([]Customer, customers)
	var cb bytes.Buffer
	for i := range cs {
		cs[i] = Customer{id(), int64(r.IntN(100_000))}
		fmt.Fprintf(&cb, "%s,%s\n", cs[i].ID, FormatCents(cs[i].Cents))
	}
	vs := make([]string, viewers)
	perm := r.Perm(customers)
	for i := range vs {
		if i < shared {
			vs[i] = cs[perm[i]].ID
		} else {
			vs[i] = id()
		}
	}
	r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	var vb bytes.Buffer
	for _, v := range vs {
		vb.WriteString(v)
		vb.WriteByte('\n')
	}
	return vb.Bytes(), cb.Bytes()
}

// Inputs returns the data owners' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	v, c := Generate(NormalViewers, NormalCustomers, NormalShared)
	if large {
		v, c = Generate(LargeViewers, LargeCustomers, LargeShared)
	}
	return map[string][]byte{ViewersPath: v, CustomersPath: c}
}

func validID(s []byte) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// lines splits b into lines; the last may lack its newline.
func lines(b []byte) [][]byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(b, []byte("\n"))
}

// DecodeViewers parses the platform's file.
func DecodeViewers(b []byte) ([]string, error) {
	var out []string
	for i, l := range lines(b) {
		if !validID(l) {
			return nil, fmt.Errorf("viewers line %d: not an identifier: %w", i+1, ErrFormat)
		}
		out = append(out, string(l))
	}
	return out, nil
}

// ParseCents parses an amount of currency units with at most two decimals.
func ParseCents(s []byte) (int64, error) {
	units, frac, dot := bytes.Cut(s, []byte("."))
	if len(units) == 0 || len(units) > 11 || (dot && (len(frac) == 0 || len(frac) > 2)) {
		return 0, ErrFormat
	}
	for _, part := range [][]byte{units, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, ErrFormat
			}
		}
	}
	u, err := strconv.ParseInt(string(units), 10, 64)
	if err != nil {
		return 0, ErrFormat
	}
	c := int64(0)
	if len(frac) > 0 {
		c, _ = strconv.ParseInt(string(frac), 10, 64)
		if len(frac) == 1 {
			c *= 10
		}
	}
	cents := u*100 + c
	if cents > MaxCents {
		return 0, ErrFormat
	}
	return cents, nil
}

// DecodeCustomers parses the shop's file.
func DecodeCustomers(b []byte) ([]Customer, error) {
	var out []Customer
	for i, l := range lines(b) {
		id, amount, ok := bytes.Cut(l, []byte(","))
		if !ok || !validID(id) {
			return nil, fmt.Errorf("customers line %d: want identifier,amount: %w", i+1, ErrFormat)
		}
		c, err := ParseCents(amount)
		if err != nil {
			return nil, fmt.Errorf("customers line %d: amount is not units with at most two decimals below %d: %w", i+1, MaxCents/100, err)
		}
		out = append(out, Customer{string(id), c})
	}
	return out, nil
}

// Sum totals the amounts of the customers whose identifier is among the
// viewers; a customer listed twice counts twice, a viewer listed twice once.
func Sum(viewers []string, customers []Customer) (Result, error) {
	seen := make(map[string]struct{}, len(viewers))
	for _, v := range viewers {
		seen[v] = struct{}{}
	}
	var r Result
	for _, c := range customers {
		if _, ok := seen[c.ID]; ok {
			if c.Cents < 0 || r.TotalCents > math.MaxInt64-c.Cents {
				return Result{}, ErrOverflow
			}
			r.Customers++
			r.TotalCents += c.Cents
		}
	}
	r.Total = FormatCents(r.TotalCents)
	return r, nil
}

// Main is the program: it reads ViewersPath and CustomersPath below root,
// writes the Result to OutputPath below root and prints the input sizes.
func Main(root string, stdout io.Writer) error {
	vb, err := os.ReadFile(root + ViewersPath)
	if err != nil {
		return fmt.Errorf("reading the viewers: %w", err)
	}
	viewers, err := DecodeViewers(vb)
	if err != nil {
		return err
	}
	cb, err := os.ReadFile(root + CustomersPath)
	if err != nil {
		return fmt.Errorf("reading the customers: %w", err)
	}
	customers, err := DecodeCustomers(cb)
	if err != nil {
		return err
	}
	res, err := Sum(viewers, customers)
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d viewers, %d customers\n", len(viewers), len(customers))
	return err
}
