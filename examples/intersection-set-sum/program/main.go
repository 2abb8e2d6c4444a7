// Command program is the intersection-set-sum guest program (GOOS=wasip1):
// it reads /input/adverts/viewers.txt and /input/shop/customers.csv and
// writes /output/intersection-set-sum.json.
package main

import (
	"fmt"
	"os"

	intersectionsetsum "github.com/truce-project/truce/examples/intersection-set-sum"
)

func main() {
	if err := intersectionsetsum.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "intersection-set-sum:", err)
		os.Exit(1)
	}
}
