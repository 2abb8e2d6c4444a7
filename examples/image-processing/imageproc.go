// Package imageproc is the image-processing example: a data owner uploads a
// colour photograph as a binary PPM (P6) file, the program turns it into
// grey (ITU-R BT.601 weights) and softens it with a 3×3 box blur, and the
// result reader reads the blurred grey image as a binary PGM (P5) file. The
// reader never sees the colour image.
//
// ParsePPM reads untrusted bytes: it must never panic, and never allocate
// more than the file's own pixel data needs.
package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
)

// The guest paths of the example's files.
const (
	InputPath  = "/input/image.ppm"
	OutputPath = "/output/image.pgm"
)

// Sizes of the generated image.
const (
	NormalWidth, NormalHeight = 160, 120
	LargeWidth, LargeHeight   = 1600, 1200
)

// MaxPixels bounds the images ParsePPM accepts.
const MaxPixels = 1 << 26

// ErrFormat is returned by ParsePPM for bytes that are not a P6 image it
// reads.
var ErrFormat = errors.New("not a binary PPM (P6) image with 8-bit samples")

// Image is an 8-bit image with c channels per pixel (3: RGB, 1: grey),
// rows top to bottom.
type Image struct {
	Width, Height, Channels int
	// MaxVal is the sample value meaning full intensity (1..255).
	MaxVal int
	Pix    []byte
}

// GeneratePPM returns a w×h colour image from a fixed seed: gradients,
// discs and noise. The same size always gives the same bytes.
func GeneratePPM(w, h int) []byte {
	r := rand.New(rand.NewPCG(5, 0x1a6e))
	img := Image{Width: w, Height: h, Channels: 3, MaxVal: 255, Pix: make([]byte, 3*w*h)}
	type disc struct {
		x, y, r2 int
		c        [3]int
	}
	discs := make([]disc, 6)
	for i := range discs {
		rad := 4 + r.IntN(max(1, min(w, h)/4))
		discs[i] = disc{r.IntN(w), r.IntN(h), rad * rad, [3]int{r.IntN(256), r.IntN(256), r.IntN(256)}}
	}
	for y := range h {
		for x := range w {
			c := [3]int{255 * x / max(1, w-1), 255 * y / max(1, h-1), 128}
			for _, d := range discs {
				if (x-d.x)*(x-d.x)+(y-d.y)*(y-d.y) <= d.r2 {
					c = d.c
				}
			}
			for k := range 3 {
				v := c[k] + r.IntN(41) - 20
				img.Pix[3*(y*w+x)+k] = byte(min(255, max(0, v)))
			}
		}
	}
	return img.Encode()
}

// Inputs returns the data owner's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	if large {
		return map[string][]byte{InputPath: GeneratePPM(LargeWidth, LargeHeight)}
	}
	return map[string][]byte{InputPath: GeneratePPM(NormalWidth, NormalHeight)}
}

// Encode writes the image as P6 (3 channels) or P5 (1 channel).
func (m *Image) Encode() []byte {
	magic := "P6"
	if m.Channels == 1 {
		magic = "P5"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d %d\n%d\n", magic, m.Width, m.Height, m.MaxVal)
	b.Write(m.Pix)
	return b.Bytes()
}

// ParsePPM reads a binary PPM (P6) image with a maximum value of at most
// 255; comments in the header are skipped. Bytes after the pixels are
// refused.
func ParsePPM(b []byte) (*Image, error) {
	if len(b) < 2 || string(b[:2]) != "P6" {
		return nil, fmt.Errorf("no P6 magic: %w", ErrFormat)
	}
	pos := 2
	var fields [3]int
	for i := range fields {
		// Whitespace and comments.
		start := pos
		for pos < len(b) {
			if c := b[pos]; c == '#' {
				for pos < len(b) && b[pos] != '\n' {
					pos++
				}
			} else if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
				pos++
			} else {
				break
			}
		}
		if pos == start {
			return nil, fmt.Errorf("header field %d: no whitespace before it: %w", i+1, ErrFormat)
		}
		d := pos
		for pos < len(b) && b[pos] >= '0' && b[pos] <= '9' && pos-d < 9 {
			pos++
		}
		n, err := strconv.Atoi(string(b[d:pos]))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("header field %d is not a positive number below 10^9: %w", i+1, ErrFormat)
		}
		fields[i] = n
	}
	w, h, maxVal := fields[0], fields[1], fields[2]
	if maxVal > 255 {
		return nil, fmt.Errorf("maximum value %d: only 8-bit samples are read: %w", maxVal, ErrFormat)
	}
	if w > MaxPixels || h > MaxPixels || w*h > MaxPixels {
		return nil, fmt.Errorf("%d×%d pixels exceed %d: %w", w, h, MaxPixels, ErrFormat)
	}
	if pos >= len(b) || !(b[pos] == ' ' || b[pos] == '\t' || b[pos] == '\n' || b[pos] == '\r') {
		return nil, fmt.Errorf("no single whitespace after the header: %w", ErrFormat)
	}
	pos++
	if len(b)-pos != 3*w*h {
		return nil, fmt.Errorf("%d bytes of pixels for %d×%d×3: %w", len(b)-pos, w, h, ErrFormat)
	}
	for _, v := range b[pos:] {
		if int(v) > maxVal {
			return nil, fmt.Errorf("a sample %d exceeds the maximum %d: %w", v, maxVal, ErrFormat)
		}
	}
	return &Image{Width: w, Height: h, Channels: 3, MaxVal: maxVal, Pix: b[pos:]}, nil
}

// Grey returns the image in grey: (299 R + 587 G + 114 B + 500) / 1000.
func Grey(m *Image) *Image {
	out := &Image{Width: m.Width, Height: m.Height, Channels: 1, MaxVal: m.MaxVal, Pix: make([]byte, m.Width*m.Height)}
	for i := range out.Pix {
		p := m.Pix[3*i : 3*i+3]
		out.Pix[i] = byte((299*int(p[0]) + 587*int(p[1]) + 114*int(p[2]) + 500) / 1000)
	}
	return out
}

// Blur returns the grey image blurred by a 3×3 box: each pixel becomes the
// rounded mean of its 3×3 neighbourhood, the edges repeated outwards.
func Blur(m *Image) *Image {
	w, h := m.Width, m.Height
	out := &Image{Width: w, Height: h, Channels: 1, MaxVal: m.MaxVal, Pix: make([]byte, w*h)}
	// Horizontal sums of three, then vertical.
	rows := make([]int, w*h)
	for y := range h {
		row := m.Pix[y*w : y*w+w]
		for x := range w {
			rows[y*w+x] = int(row[max(0, x-1)]) + int(row[x]) + int(row[min(w-1, x+1)])
		}
	}
	for y := range h {
		up, down := max(0, y-1), min(h-1, y+1)
		for x := range w {
			s := rows[up*w+x] + rows[y*w+x] + rows[down*w+x]
			out.Pix[y*w+x] = byte((s + 4) / 9)
		}
	}
	return out
}

// Main is the program: it reads InputPath below root, writes its blurred
// grey version to OutputPath below root, and prints the size.
func Main(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + InputPath)
	if err != nil {
		return fmt.Errorf("reading the image: %w", err)
	}
	img, err := ParsePPM(b)
	if err != nil {
		return err
	}
	out := Blur(Grey(img))
	if err := os.WriteFile(root+OutputPath, out.Encode(), 0o644); err != nil {
		return fmt.Errorf("writing the grey image: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "grey and blurred %d×%d pixels\n", img.Width, img.Height)
	return err
}
