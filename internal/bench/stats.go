package main

import (
	"fmt"
	"slices"
	"time"
)

// stat is a summary of repeated measurements of one thing: median and
// spread, in seconds (or, for rates, in the rate's unit).
type stat struct {
	med, lo, hi float64
	n           int
	// capped is true when the one run was stopped at med seconds.
	capped bool
	// rate is true when the values are rates (MiB/s, requests/s) rather
	// than seconds.
	rate bool
	unit string
}

// summarize returns the median, min and max of the durations.
func summarize(d []time.Duration) stat {
	xs := make([]float64, len(d))
	for i, v := range d {
		xs[i] = v.Seconds()
	}
	return summarizeValues(xs)
}

// summarizeValues returns the median, min and max of xs.
func summarizeValues(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med: med, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// rates returns the summary of rates: the same size over each time.
func rates(size float64, unit string, d []time.Duration) stat {
	xs := make([]float64, len(d))
	for i, v := range d {
		xs[i] = size / v.Seconds()
	}
	s := summarizeValues(xs)
	s.rate, s.unit = true, unit
	return s
}

// String is "12.3 ms (11.9–13.0)", the median and the spread.
func (s stat) String() string {
	if s.n == 0 {
		return "—"
	}
	if s.capped {
		return "> " + seconds(s.med)
	}
	if s.rate {
		if s.n == 1 {
			return fmt.Sprintf("%.0f %s", s.med, s.unit)
		}
		return fmt.Sprintf("%.0f %s (%.0f–%.0f)", s.med, s.unit, s.lo, s.hi)
	}
	if s.n == 1 {
		return seconds(s.med)
	}
	unit, scale := timeUnit(s.med)
	return fmt.Sprintf("%s %s (%s–%s)", num(s.med*scale), unit, num(s.lo*scale), num(s.hi*scale))
}

// timeUnit picks the unit a time in seconds reads best in.
func timeUnit(sec float64) (string, float64) {
	switch {
	case sec >= 10:
		return "s", 1
	case sec >= 1e-3:
		return "ms", 1e3
	}
	return "µs", 1e6
}

// seconds formats a time in seconds in its best unit.
func seconds(sec float64) string {
	unit, scale := timeUnit(sec)
	return num(sec*scale) + " " + unit
}

// num prints three significant figures at most, without exponent.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ms(d time.Duration) string { return seconds(d.Seconds()) }

// bytesLabel is a size for people: 4.0 MiB, 64 KiB, 512 B.
func bytesLabel(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
