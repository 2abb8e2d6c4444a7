// Package psi is the private-set-intersection example: two companies each
// upload the list of their employees, the program intersects the lists in
// the enclave, and each company reads the employees the two lists share —
// and nothing else about the other's list but its size.
//
// Each set is a JSON array of Person objects; the program reads every file
// in /input/psi/ (one per data owner) and writes the people present in all
// of them to /output/intersection.json, as a JSON array sorted by employee
// ID, then name, age and grade. It must never write or print anyone not in
// every set.
package psi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/private-set-intersection.wasm"
	InputDir    = "/input/psi/"
	OutputPath  = "/output/intersection.json"
)

// The data owners' files, as the example's policy names them.
var (
	SetPaths = []string{InputDir + "acme.json", InputDir + "globex.json"}
)

// Sizes of each generated set, in people, and how many they share.
const (
	NormalSize, NormalShared = 2_000, 150
	LargeSize, LargeShared   = 400_000, 30_000
)

// MaxFieldBytes bounds the name and employee ID of a person.
const MaxFieldBytes = 256

// ErrFormat is returned for a set that is not a JSON array of valid
// Person objects.
var ErrFormat = errors.New("set is not a JSON array of people")

// Person is one member of a set, as in Veracruz's example.
type Person struct {
	Name       string `json:"name"`
	EmployeeID string `json:"employee_id"`
	Age        uint8  `json:"age"`
	Grade      uint8  `json:"grade"`
}

// Compare orders people by employee ID, then name, age and grade.
func Compare(a, b Person) int {
	return cmp.Or(strings.Compare(a.EmployeeID, b.EmployeeID), strings.Compare(a.Name, b.Name),
		cmp.Compare(a.Age, b.Age), cmp.Compare(a.Grade, b.Grade))
}

var (
	firstNames = []string{"Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "John", "Katherine", "Leslie", "Margaret", "Niklaus", "Radia", "Tony", "Whitfield"}
	lastNames  = []string{"Allen", "Backus", "Dijkstra", "Hamilton", "Hoare", "Hopper", "Johnson", "Knuth", "Lamport", "Liskov", "Lovelace", "Perlman", "Shannon", "Turing", "Wirth"}
)

// Generate returns the data owners' sets: each of size people, sharing
// shared of them, from a fixed seed. The same arguments always give the
// same bytes.
func Generate(size, shared int) [][]byte {
	r := rand.New(rand.NewPCG(2, 0x9512))
	person := func(id int) Person {
		return Person{
			Name:       firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))],
			EmployeeID: fmt.Sprintf("E%08d", id),
			Age:        uint8(20 + r.IntN(45)),
			Grade:      uint8(1 + r.IntN(9)),
		}
	}
	id := 0
	next := func() Person { id++; return person(id) }
	common := make([]Person, shared)
	for i := range common {
		common[i] = next()
	}
	var out [][]byte
	for range SetPaths {
		set := slices.Clone(common)
		for len(set) < size {
			set = append(set, next())
		}
		r.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
		b, err := json.Marshal(set)
		if err != nil {
			panic(err) // Person always marshals
		}
		out = append(out, b)
	}
	return out
}

// Inputs returns the data owners' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	size, shared := NormalSize, NormalShared
	if large {
		size, shared = LargeSize, LargeShared
	}
	sets := Generate(size, shared)
	m := map[string][]byte{}
	for i, p := range SetPaths {
		m[p] = sets[i]
	}
	return m
}

// Decode parses one set. Duplicates are allowed (a set keeps one).
func Decode(b []byte) ([]Person, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var set []Person
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the array", ErrFormat)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the array", ErrFormat)
	}
	if set == nil {
		return nil, fmt.Errorf("%w: not an array", ErrFormat)
	}
	for i, p := range set {
		if len(p.Name) > MaxFieldBytes || len(p.EmployeeID) > MaxFieldBytes {
			return nil, fmt.Errorf("%w: person %d: name or employee_id longer than %d bytes", ErrFormat, i, MaxFieldBytes)
		}
	}
	return set, nil
}

// Intersect returns the people present in every set, sorted with Compare
// and without duplicates; no sets give none.
func Intersect(sets [][]Person) []Person {
	if len(sets) == 0 {
		return []Person{}
	}
	count := map[Person]int{}
	for i, set := range sets {
		for _, p := range set {
			if count[p] == i {
				count[p] = i + 1
			}
		}
	}
	out := []Person{}
	for p, n := range count {
		if n == len(sets) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, Compare)
	return out
}

// Main is the program: it intersects the sets in InputDir below root and
// writes the result to OutputPath below root, printing only counts.
func Main(root string, stdout io.Writer) error {
	entries, err := os.ReadDir(root + InputDir)
	if err != nil {
		return fmt.Errorf("listing the sets: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		return fmt.Errorf("%d sets uploaded: need at least two", len(names))
	}
	var sets [][]Person
	for _, n := range names {
		b, err := os.ReadFile(root + path.Join(InputDir, n))
		if err != nil {
			return fmt.Errorf("reading set %s: %w", n, err)
		}
		set, err := Decode(b)
		if err != nil {
			return fmt.Errorf("set %s: %w", n, err)
		}
		sets = append(sets, set)
	}
	res := Intersect(sets)
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the intersection: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d sets, %d people in all of them\n", len(sets), len(res))
	return err
}
