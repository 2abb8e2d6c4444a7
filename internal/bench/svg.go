package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The plots are drawn here, in plain SVG, so that the bench needs no
// plotting tool: grouped bars for comparisons, lines for growth.

// palette colours the series, in order; chosen to stay apart in print
// and for the common colour-vision deficiencies.
var palette = []string{"#1b6ca8", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00"}

// barGroup is one group of bars: one value per series (0: none).
type barGroup struct {
	label  string
	values []float64
}

// barChart draws groups of horizontal bars, one bar per series.
type barChart struct {
	title, unit string
	series      []string
	groups      []barGroup
	// log draws the value axis on a log scale; baseline, if not 0, is
	// drawn as a line (1 for ratios).
	log      bool
	baseline float64
}

const (
	plotWidth  = 820
	labelWidth = 210
	barHeight  = 9
	groupGap   = 10
	marginTop  = 48
)

// scale maps values to x positions between x0 and x1.
type scale struct {
	lo, hi float64
	log    bool
	x0, x1 float64
}

func (s scale) x(v float64) float64 {
	if s.log {
		v, lo, hi := math.Log10(math.Max(v, s.lo)), math.Log10(s.lo), math.Log10(s.hi)
		return s.x0 + (v-lo)/(hi-lo)*(s.x1-s.x0)
	}
	return s.x0 + (v-s.lo)/(s.hi-s.lo)*(s.x1-s.x0)
}

// ticks are the axis marks: powers of ten on a log scale, a few round
// numbers otherwise.
func (s scale) ticks() []float64 {
	var out []float64
	if s.log {
		for p := math.Floor(math.Log10(s.lo)); p <= math.Ceil(math.Log10(s.hi)); p++ {
			if v := math.Pow(10, p); v >= s.lo*0.999 && v <= s.hi*1.001 {
				out = append(out, v)
			}
		}
		return out
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := math.Ceil(s.lo/step) * step; v <= s.hi*1.0001; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// span is the range of the positive values, widened to whole powers of
// ten on a log scale, and from 0 otherwise.
func span(vals []float64, log bool, extra ...float64) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, v := range append(vals, extra...) {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi == 0 {
		return 0.1, 1
	}
	if log {
		return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	}
	return 0, hi * 1.1
}

func tickLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64, title string) *svgDoc {
	d := &svgDoc{w: w, h: h}
	fmt.Fprintf(&d.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&d.b, `<title>%s</title><rect width="100%%" height="100%%" fill="white"/>`+"\n", html.EscapeString(title))
	d.text(w/2, 18, "middle", 13, title)
	return d
}

func (d *svgDoc) text(x, y float64, anchor string, size int, s string) {
	fmt.Fprintf(&d.b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d">%s</text>`+"\n", x, y, anchor, size, html.EscapeString(s))
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	extra := ""
	if dash != "" {
		extra = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, extra)
}

func (d *svgDoc) legend(series []string, y float64) {
	x := float64(labelWidth)
	for i, s := range series {
		fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/>`+"\n", x, y-9, palette[i%len(palette)])
		d.text(x+14, y, "start", 11, s)
		x += 24 + 6.5*float64(len(s))
	}
}

func (d *svgDoc) bytes() []byte {
	d.b.WriteString("</svg>\n")
	return []byte(d.b.String())
}

func (c barChart) svg() []byte {
	var all []float64
	for _, g := range c.groups {
		all = append(all, g.values...)
	}
	lo, hi := span(all, c.log, c.baseline)
	// Room for the longest group label (about 6.5 px a character at 11 px).
	left := float64(labelWidth)
	for _, g := range c.groups {
		left = math.Max(left, 6.5*float64(len([]rune(g.label)))+12)
	}
	width := plotWidth + left - labelWidth
	sc := scale{lo: lo, hi: hi, log: c.log, x0: left, x1: width - 60}
	groupH := float64(len(c.series)*barHeight + groupGap)
	bottom := marginTop + groupH*float64(len(c.groups))
	d := newSVG(width, bottom+40, c.title)
	d.legend(c.series, 36)
	for _, t := range sc.ticks() {
		x := sc.x(t)
		d.line(x, marginTop-4, x, bottom, "#ddd", 1, "")
		d.text(x, bottom+14, "middle", 10, tickLabel(t))
	}
	d.text((sc.x0+sc.x1)/2, bottom+32, "middle", 11, c.unit)
	for i, g := range c.groups {
		y := marginTop + groupH*float64(i)
		d.text(left-6, y+float64(len(c.series)*barHeight)/2+4, "end", 11, g.label)
		for j, v := range g.values {
			if v <= 0 {
				continue
			}
			fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s: %.3g</title></rect>`+"\n",
				sc.x0, y+float64(j*barHeight), math.Max(sc.x(v)-sc.x0, 1), barHeight-1, palette[j%len(palette)],
				html.EscapeString(c.series[j]), v)
		}
	}
	if c.baseline > 0 {
		x := sc.x(c.baseline)
		d.line(x, marginTop-4, x, bottom, "#333", 1.2, "4 3")
	}
	d.line(sc.x0, marginTop-4, sc.x0, bottom, "#333", 1, "")
	return d.bytes()
}

// lineSeries is one line: y values at the chart's x values (0: none).
type lineSeries struct {
	name string
	y    []float64
}

// lineChart draws series against x, both axes on log scales when asked.
type lineChart struct {
	title, xUnit, yUnit string
	x                   []float64
	series              []lineSeries
	logX, logY          bool
}

func (c lineChart) svg() []byte {
	const h = 360.0
	var ys []float64
	for _, s := range c.series {
		ys = append(ys, s.y...)
	}
	xlo, xhi := span(c.x, c.logX)
	if !c.logX {
		xlo = 0
	}
	ylo, yhi := span(ys, c.logY)
	sx := scale{lo: xlo, hi: xhi, log: c.logX, x0: 90, x1: plotWidth - 40}
	sy := scale{lo: ylo, hi: yhi, log: c.logY, x0: h - 50, x1: marginTop + 10}
	d := newSVG(plotWidth, h, c.title)
	var names []string
	for _, s := range c.series {
		names = append(names, s.name)
	}
	d.legend(names, 36)
	for _, t := range sx.ticks() {
		x := sx.x(t)
		d.line(x, sy.x1, x, sy.x0, "#ddd", 1, "")
		d.text(x, sy.x0+14, "middle", 10, tickLabel(t))
	}
	for _, t := range sy.ticks() {
		y := sy.x(t)
		d.line(sx.x0, y, sx.x1, y, "#ddd", 1, "")
		d.text(sx.x0-6, y+4, "end", 10, tickLabel(t))
	}
	d.text((sx.x0+sx.x1)/2, h-14, "middle", 11, c.xUnit)
	fmt.Fprintf(&d.b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n",
		(sy.x0+sy.x1)/2, (sy.x0+sy.x1)/2, html.EscapeString(c.yUnit))
	for i, s := range c.series {
		var pts []string
		for k, y := range s.y {
			if k < len(c.x) && y > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx.x(c.x[k]), sy.x(y)))
			}
		}
		col := palette[i%len(palette)]
		fmt.Fprintf(&d.b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&d.b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, col)
		}
	}
	d.line(sx.x0, sy.x0, sx.x1, sy.x0, "#333", 1, "")
	d.line(sx.x0, sy.x0, sx.x0, sy.x1, "#333", 1, "")
	return d.bytes()
}
