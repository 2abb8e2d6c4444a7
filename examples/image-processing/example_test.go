package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference computes the blurred grey image through the standard
// library's image types, pixel by pixel over the full 3×3 neighbourhood,
// independently of the program's code. It returns the expected PGM file.
func reference(t *testing.T, ppm []byte) []byte {
	t.Helper()
	var w, h, maxVal int
	n, err := fmt.Sscanf(string(ppm), "P6\n%d %d\n%d\n", &w, &h, &maxVal)
	if err != nil || n != 3 {
		t.Fatalf("reference: reading the header: %v", err)
	}
	pix := ppm[len(ppm)-3*w*h:]
	rgb := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		rgb.Set(i%w, i/w, color.RGBA{pix[3*i], pix[3*i+1], pix[3*i+2], 255})
	}
	grey := image.NewGray(rgb.Bounds())
	for y := range h {
		for x := range w {
			c := rgb.RGBAAt(x, y)
			grey.SetGray(x, y, color.Gray{uint8((299*uint32(c.R) + 587*uint32(c.G) + 114*uint32(c.B) + 500) / 1000)})
		}
	}
	clamp := func(v, hi int) int { return min(max(v, 0), hi-1) }
	blur := image.NewGray(rgb.Bounds())
	for y := range h {
		for x := range w {
			sum := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					sum += int(grey.GrayAt(clamp(x+dx, w), clamp(y+dy, h)).Y)
				}
			}
			blur.SetGray(x, y, color.Gray{uint8((sum + 4) / 9)})
		}
	}
	return append(fmt.Appendf(nil, "P5\n%d %d\n%d\n", w, h, maxVal), blur.Pix...)
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(t, inputs[InputPath])
	if got := files[OutputPath]; !bytes.Equal(got, want) {
		t.Errorf("%s differs from the reference (%d bytes, want %d)", OutputPath, len(got), len(want))
	}
	if want := fmt.Sprintf("grey and blurred %d×%d pixels\n", NormalWidth, NormalHeight); stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

func TestParsePPM(t *testing.T) {
	good := GeneratePPM(3, 2)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"generated", string(good), true},
		{"comment", "P6 # a comment\n1 1 255\n\x01\x02\x03", true},
		{"maxval", "P6 1 1 7 \x01\x02\x03", true},
		{"sample above maxval", "P6 1 1 7 \x01\x02\x09", false},
		{"16-bit", "P6 1 1 65535 \x01\x02\x03\x04\x05\x06", false},
		{"P3", "P3 1 1 255 1 2 3", false},
		{"short", "P6 2 1 255 \x01\x02\x03", false},
		{"trailing", "P6 1 1 255 \x01\x02\x03\x04", false},
		{"zero width", "P6 0 1 255 ", false},
		{"huge", "P6 999999999 999999999 255 ", false},
		{"no space", "P61 1 255 \x01\x02\x03", false},
		{"empty", "", false},
		{"negative", "P6 -1 1 255 ", false},
	} {
		m, err := ParsePPM([]byte(tc.in))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrFormat)) {
			t.Errorf("%s: ParsePPM = %v, %v", tc.name, m, err)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a := GeneratePPM(20, 10)
	if !bytes.Equal(a, GeneratePPM(20, 10)) {
		t.Fatal("GeneratePPM is not deterministic")
	}
	m, err := ParsePPM(a)
	if err != nil || m.Width != 20 || m.Height != 10 {
		t.Fatalf("ParsePPM(GeneratePPM) = %v, %v", m, err)
	}
}

func FuzzParsePPM(f *testing.F) {
	f.Add(GeneratePPM(2, 2))
	f.Add([]byte("P6 # c\n1 1 255\n\x01\x02\x03"))
	f.Add([]byte("P6 1 1 255"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePPM(b)
		if err != nil {
			return
		}
		if len(m.Pix) != 3*m.Width*m.Height {
			t.Fatal("pixels do not match the size")
		}
		if out := Blur(Grey(m)); len(out.Pix) != m.Width*m.Height {
			t.Fatal("output size differs")
		}
	})
}
