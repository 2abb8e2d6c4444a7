// Package logreg is the logistic-regression example, after the iDASH 2017
// secure genome analysis competition (track 3: training a logistic model
// on genomic data without revealing it) and Veracruz's port of Kim et al.'s
// winning entry: two hospitals each upload their patients' records — a
// diagnosis and genotype and clinical features — and the program trains
// one model on both in the enclave. The result reader learns the model and
// how well it predicts held-out records; neither hospital sees the other's
// patients.
//
// The data here is SYNTHETIC: drawn from a fixed seed to resemble the
// iDASH 2017 data set's shape (18 features, a binary label), not real
// patients. See Generate.
//
// Each hospital's file is CSV without a header, one patient per line: the
// label (0 or 1), then the same number of features (1 to MaxFeatures) as
// decimal numbers. The program reads every file in /input/genomes/ in name
// order, keeps every fifth record for testing, normalises the features by
// their largest magnitude in training, and runs Kim et al.'s Nesterov
// accelerated gradient descent with a polynomial sigmoid (Iterations
// rounds, Degree, learning rate GammaUp/(t+1)/n). It writes JSON with the
// weights, the accuracy (per cent) and the AUC on the held-out records. It
// must never write or print a record.
package logreg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strconv"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/logistic-regression.wasm"
	InputDir    = "/input/genomes/"
	OutputPath  = "/output/logistic-regression.json"
)

// The data owners' files, as the example's policy names them.
var SetPaths = []string{InputDir + "hospital-a.csv", InputDir + "hospital-b.csv"}

// Sizes of each hospital's generated file, in records.
const (
	NormalRecords = 1_600
	LargeRecords  = 250_000
)

// Features is the number of features the generator makes (as in the
// iDASH 2017 data set); MaxFeatures bounds what the program accepts.
const (
	Features    = 18
	MaxFeatures = 64
)

// The training parameters.
const (
	Iterations = 200
	Degree     = 3
	GammaUp    = 10.0
	TestEvery  = 5 // every fifth record is held out for testing
)

// Sigmoid approximations of Kim et al. (least squares over [-8, 8]):
// coefficients of x^0, x^1, x^3, x^5, x^7 of -σ(-x), by degree.
var sigmoid = map[int][]float64{
	3: {-0.5, 0.15012, -0.001593},
	5: {-0.5, 0.19131, -0.0045963, 0.0000412332},
	7: {-0.5, 0.216884, -0.00819276, 0.000165861, -0.00000119581},
}

// ErrFormat is returned for a file that is not the example's CSV.
var ErrFormat = errors.New("records are not label,feature,… lines of numbers")

// ErrTooFew is returned when there are too few records to train and test.
var ErrTooFew = errors.New("too few records: need at least one of each label in training and some to test")

// Record is one patient: the label and the features.
type Record struct {
	Label    bool
	Features []float64
}

// Result is what the reader learns.
type Result struct {
	// Weights are the model's: the intercept first, then one per
	// normalised feature.
	Weights []float64 `json:"weights"`
	// Scale is each feature's largest magnitude in training, by which
	// the program divided it.
	Scale      []float64 `json:"scale"`
	TrainRows  int       `json:"train_rows"`
	TestRows   int       `json:"test_rows"`
	Accuracy   float64   `json:"accuracy"`
	AUC        float64   `json:"auc"`
	Iterations int       `json:"iterations"`
	Degree     int       `json:"degree"`
}

// Generate returns the hospitals' files, n records each, from a fixed
// seed: the same n always gives the same bytes. Each record has 15
// genotypes (0, 1 or 2 copies of a minor allele of frequency 5–50%), age,
// sex and a body-mass index, and a label drawn from a logistic model of a
// few of them: synthetic data shaped like iDASH 2017's, not real data.
func Generate(n int) [][]byte {
	r := rand.New(rand.NewPCG(8, 0x1da5))
	freq := make([]float64, 15)
	for i := range freq {
		freq[i] = 0.05 + 0.45*r.Float64()
	}
	// True effects on standardised features: some genotypes matter.
	effect := []float64{1.4, -1.1, 0, 0.8, 0, 0, -0.6, 0, 0.9, 0, 0, 0, 0.5, 0, 0, 1.2, 0.3, 0.8}
	var out [][]byte
	for range SetPaths {
		var b bytes.Buffer
		for range n {
			f := make([]float64, Features)
			z := -0.3
			for i, p := range freq {
				g := 0.0
				for range 2 {
					if r.Float64() < p {
						g++
					}
				}
				f[i] = g
				z += effect[i] * (g - 2*p) / math.Sqrt(2*p*(1-p))
			}
			age := 30 + 50*r.Float64()
			sex := float64(r.IntN(2))
			bmi := 18 + 14*r.Float64()
			f[15], f[16], f[17] = math.Round(age), sex, math.Round(bmi*10)/10
			z += effect[15]*(age-55)/14 + effect[16]*(sex-0.5)*2 + effect[17]*(bmi-25)/4
			label := 0
			if r.Float64() < 1/(1+math.Exp(-z)) {
				label = 1
			}
			b.WriteString(strconv.Itoa(label))
			for _, v := range f {
				b.WriteByte(',')
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
			b.WriteByte('\n')
		}
		out = append(out, b.Bytes())
	}
	return out
}

// Inputs returns the hospitals' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalRecords
	if large {
		n = LargeRecords
	}
	m := map[string][]byte{}
	for i, b := range Generate(n) {
		m[SetPaths[i]] = b
	}
	return m
}

// Decode parses one hospital's file. Every record must have the same
// number of features.
func Decode(b []byte) ([]Record, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil, nil
	}
	var out []Record
	for i, line := range bytes.Split(b, []byte("\n")) {
		fields := bytes.Split(line, []byte(","))
		if len(fields) < 2 || len(fields) > MaxFeatures+1 {
			return nil, fmt.Errorf("%w: line %d has %d fields, want a label and 1 to %d features", ErrFormat, i+1, len(fields), MaxFeatures)
		}
		if out != nil && len(fields)-1 != len(out[0].Features) {
			return nil, fmt.Errorf("%w: line %d has %d features, line 1 has %d", ErrFormat, i+1, len(fields)-1, len(out[0].Features))
		}
		var rec Record
		switch string(fields[0]) {
		case "0":
		case "1":
			rec.Label = true
		default:
			return nil, fmt.Errorf("%w: line %d: the label is not 0 or 1", ErrFormat, i+1)
		}
		rec.Features = make([]float64, len(fields)-1)
		for j, f := range fields[1:] {
			v, err := strconv.ParseFloat(string(f), 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > 1e300 {
				return nil, fmt.Errorf("%w: line %d, feature %d is not a finite number", ErrFormat, i+1, j+1)
			}
			rec.Features[j] = v
		}
		out = append(out, rec)
	}
	return out, nil
}

// Split keeps every TestEvery-th record for testing, the rest for training.
func Split(recs []Record) (train, test []Record) {
	for i, r := range recs {
		if i%TestEvery == TestEvery-1 {
			test = append(test, r)
		} else {
			train = append(train, r)
		}
	}
	return train, test
}

// z returns the training row of a record: ±(1, features/scale), signed by
// the label.
func z(r Record, scale []float64) []float64 {
	s := -1.0
	if r.Label {
		s = 1
	}
	row := make([]float64, len(r.Features)+1)
	row[0] = s
	for j, v := range r.Features {
		row[j+1] = s * v / scale[j]
	}
	return row
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Train fits the model on train (Kim et al.'s accelerated gradient descent
// with the polynomial sigmoid of degree) and evaluates it on test.
func Train(train, test []Record, iterations, degree int) (Result, error) {
	return TrainRate(train, test, iterations, degree, GammaUp, -1)
}

// TrainRate is Train with the learning rate gammaUp/gammaDown/n, or
// gammaUp/(t-gammaDown)/n at iteration t when gammaDown <= 0.
func TrainRate(train, test []Record, iterations, degree int, gammaUp, gammaDown float64) (Result, error) {
	coef, ok := sigmoid[degree]
	if !ok {
		return Result{}, fmt.Errorf("no sigmoid approximation of degree %d: use 3, 5 or 7", degree)
	}
	pos, neg := 0, 0
	for _, r := range train {
		if r.Label {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 || len(test) == 0 {
		return Result{}, ErrTooFew
	}
	d := len(train[0].Features)
	scale := make([]float64, d)
	for _, r := range train {
		for j, v := range r.Features {
			scale[j] = max(scale[j], math.Abs(v))
		}
	}
	for j := range scale {
		if scale[j] == 0 {
			scale[j] = 1
		}
	}
	rows := make([][]float64, len(train))
	for i, r := range train {
		rows[i] = z(r, scale)
	}
	n := float64(len(rows))
	w := make([]float64, d+1)
	v := make([]float64, d+1)
	alpha0 := 0.01
	alpha1 := (1 + math.Sqrt(1+4*alpha0*alpha0)) / 2
	for it := range iterations {
		eta := (1 - alpha0) / alpha1
		gamma := gammaUp / gammaDown / n
		if gammaDown <= 0 {
			gamma = gammaUp / (float64(it) - gammaDown) / n
		}
		grad := make([]float64, d+1)
		for _, row := range rows {
			ip := dot(row, v)
			wt, pw := coef[0], ip
			for _, c := range coef[1:] {
				wt += c * pw
				pw *= ip * ip
			}
			for j, x := range row {
				grad[j] += wt * x
			}
		}
		nw := make([]float64, d+1)
		for j := range nw {
			nw[j] = v[j] - gamma*grad[j]
			v[j] = (1-eta)*nw[j] + eta*w[j]
		}
		w = nw
		alpha0, alpha1 = alpha1, (1+math.Sqrt(1+4*alpha1*alpha1))/2
	}
	res := Result{Weights: w, Scale: scale, TrainRows: len(train), TestRows: len(test), Iterations: iterations, Degree: degree}
	res.Accuracy, res.AUC = Evaluate(test, w, scale)
	return res, nil
}

// Evaluate returns the percentage of records whose label the model
// predicts and the area under the ROC curve (ties count half).
func Evaluate(test []Record, w, scale []float64) (accuracy, auc float64) {
	type scored struct {
		s   float64
		pos bool
	}
	ss := make([]scored, len(test))
	correct := 0
	for i, r := range test {
		row := z(r, scale)
		if dot(row, w) > 0 {
			correct++
		}
		s := dot(row, w)
		if !r.Label {
			s = -s
		}
		ss[i] = scored{s, r.Label}
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].s < ss[j].s })
	// Rank-sum AUC: each positive counts the negatives scored below it.
	var negBelow, pairs, wins float64
	for i := 0; i < len(ss); {
		j := i
		var p, q float64
		for ; j < len(ss) && ss[j].s == ss[i].s; j++ {
			if ss[j].pos {
				p++
			} else {
				q++
			}
		}
		wins += p*negBelow + p*q/2
		negBelow += q
		i = j
	}
	npos := 0.0
	for _, s := range ss {
		if s.pos {
			npos++
		}
	}
	pairs = npos * (float64(len(ss)) - npos)
	if pairs > 0 {
		auc = wins / pairs
	}
	return 100 * float64(correct) / float64(len(test)), auc
}

// Main is the program: it trains on the files in InputDir below root,
// writes the Result to OutputPath below root and prints the test figures.
func Main(root string, stdout io.Writer) error {
	entries, err := os.ReadDir(root + InputDir)
	if err != nil {
		return fmt.Errorf("listing the records: %w", err)
	}
	var recs []Record
	files := 0
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(root + path.Join(InputDir, e.Name()))
		if err != nil {
			return fmt.Errorf("reading %s: %w", e.Name(), err)
		}
		rs, err := Decode(b)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		if len(recs) > 0 && len(rs) > 0 && len(rs[0].Features) != len(recs[0].Features) {
			return fmt.Errorf("%s: %w: %d features, the files before have %d", e.Name(), ErrFormat, len(rs[0].Features), len(recs[0].Features))
		}
		recs = append(recs, rs...)
		files++
	}
	train, test := Split(recs)
	res, err := Train(train, test, Iterations, Degree)
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the model: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d files, %d training and %d test records: accuracy %.2f%%, AUC %.4f\n",
		files, res.TrainRows, res.TestRows, res.Accuracy, res.AUC)
	return err
}
