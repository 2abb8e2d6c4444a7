package fileseek

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference builds the expected result by slicing the database in
// memory, independently of the program's code.
func reference(records, queries []byte) []byte {
	var qs []int
	for _, f := range strings.Fields(string(queries)) {
		q, _ := strconv.Atoi(f)
		qs = append(qs, q)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(qs)))
	for _, q := range qs {
		out = append(out, records[q*RecordSize:(q+1)*RecordSize]...)
	}
	return append(out, records[len(records)-RecordSize:]...)
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(inputs[RecordsPath], inputs[QueriesPath])
	if got := files[OutputPath]; !bytes.Equal(got, want) {
		t.Errorf("%s differs from the reference (%d bytes, want %d)", OutputPath, len(got), len(want))
	}
	if w := fmt.Sprintf("fetched %d of %d records\n", NormalQueries, NormalRecords); stdout != w {
		t.Errorf("stdout %q, want %q", stdout, w)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

// TestQueriesGoBothWays makes sure the generated queries make the program
// seek backwards as well as forwards.
func TestQueriesGoBothWays(t *testing.T) {
	_, qb := Generate(NormalRecords, NormalQueries)
	qs, err := ParseQueries(qb, NormalRecords)
	if err != nil {
		t.Fatal(err)
	}
	back, fwd := 0, 0
	for i := 1; i < len(qs); i++ {
		if qs[i] <= qs[i-1] {
			back++
		} else {
			fwd++
		}
	}
	if back == 0 || fwd == 0 {
		t.Fatalf("%d backward and %d forward hops", back, fwd)
	}
}

func TestParseQueries(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{{"1\n2\n\n3\n", 3, true}, {"", 0, true}, {" 0 \r\n", 1, true}, {"10", 0, false}, {"-1", 0, false}, {"x", 0, false}, {"1 2", 0, false}} {
		qs, err := ParseQueries([]byte(tc.in), 10)
		if tc.ok != (err == nil) || len(qs) != tc.n || (err != nil && !errors.Is(err, ErrQuery)) {
			t.Errorf("ParseQueries(%q) = %v, %v", tc.in, qs, err)
		}
	}
}

func FuzzParseQueries(f *testing.F) {
	f.Add([]byte("1\n2\n"), int64(10))
	f.Add([]byte("99999999999999999999"), int64(1))
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		qs, err := ParseQueries(b, n)
		if err != nil {
			return
		}
		for _, q := range qs {
			if q < 0 || q >= n {
				t.Fatalf("accepted %d for %d records", q, n)
			}
		}
	})
}
