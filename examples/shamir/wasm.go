// Package shamir embeds the prebuilt Shamir guest program (built from
// ./program with GOOS=wasip1 GOARCH=wasm -trimpath -buildvcs=false), so the
// demo runs on a machine without a Go toolchain. GoVersion records the Go
// version that built it; wasm_test.go rebuilds it and checks the bytes.
//
// It must never be changed by hand: rebuild with "go generate".
package shamir

import (
	_ "embed"
	"strings"
)

//go:generate sh -c "cd program && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -buildvcs=false -o ../shamir.wasm . && go env GOVERSION > ../shamir.wasm.goversion"

// Wasm is the guest program's WebAssembly module.
//
//go:embed shamir.wasm
var Wasm []byte

//go:embed shamir.wasm.goversion
var goVersion string

// GoVersion is the Go version that built Wasm.
var GoVersion = strings.TrimSpace(goVersion)

// Path is where the example policy places the program.
const Path = "/program/shamir.wasm"
