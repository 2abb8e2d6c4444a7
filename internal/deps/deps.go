//go:build deps

// Package deps pins the project's chosen dependencies while the packages
// that use them are written. It is removed once every dependency is imported.
package deps

import (
	_ "github.com/bytecodealliance/wasmtime-go/v39"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/tetratelabs/wazero"
	_ "github.com/veraison/go-cose"
	_ "golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"
)
