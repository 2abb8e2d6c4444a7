// Command truce is the one binary of Truce: it makes identities and
// policies, runs the attestation service, the host and the runtime inside
// the enclave, talks to an enclave as a client, and runs the whole flow
// locally with "truce demo". Run "truce help" for the list of commands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], newEnv()))
}
