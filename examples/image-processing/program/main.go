// Command program is the image-processing guest program (GOOS=wasip1): it
// turns /input/image.ppm grey, blurs it and writes /output/image.pgm.
package main

import (
	"fmt"
	"os"

	imageproc "github.com/truce-project/truce/examples/image-processing"
)

func main() {
	if err := imageproc.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image-processing:", err)
		os.Exit(1)
	}
}
