package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// A data owner uploads a share; the result reader runs the program, reads
// the result and checks the receipt.
func ExampleDial() {
	ctx := context.Background()
	raw, err := os.ReadFile("policy.json")
	if err != nil {
		log.Fatal(err)
	}
	pol, err := policy.Parse(raw, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	alice, err := identity.Load("alice.crt", "alice.key")
	if err != nil {
		log.Fatal(err)
	}
	// Dial checks the enclave against the policy before sending anything.
	s, err := client.Dial(ctx, pol, alice)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, "/input/shamir-0.dat", strings.NewReader("share")); err != nil {
		log.Fatal(err, "\n", client.Hint(err))
	}

	dave, _ := identity.Load("dave.crt", "dave.key")
	d, err := client.Dial(ctx, pol, dave)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	rr, err := d.Run(ctx, "/program/shamir.wasm")
	if err != nil {
		log.Fatal(err)
	}
	if err := receipt.Verify(&rr.Receipt, pol, time.Now()); err != nil {
		log.Fatal(err)
	}
	if _, err := d.Get(ctx, "/output/shamir.dat", os.Stdout); err != nil {
		log.Fatal(err)
	}
	fmt.Println()
}
