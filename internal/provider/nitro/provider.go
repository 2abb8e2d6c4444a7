package nitro

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/platform"
)

// DevicePath is where the Nitro Secure Module appears inside an enclave.
const DevicePath = "/dev/nsm"

// decMode decodes NSM responses with bounds, as attest/nitro decodes
// documents.
var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements: 1024,
		MaxMapPairs:      1024,
		MaxNestedLevels:  8,
		IndefLength:      cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Request and response bounds of the NSM driver.
const (
	MaxRequestSize  = 0x1000
	MaxResponseSize = 0x3000
)

// Device exchanges one CBOR request for one CBOR response with the Nitro
// Secure Module. OpenDevice returns the real one; tests give a fake.
type Device interface {
	Exchange(request []byte) (response []byte, err error)
}

// ErrNSM wraps an error the NSM reported (its error code is in the message).
var ErrNSM = errors.New("nitro secure module refused the request")

// Provider gets attestation documents from the NSM inside a Nitro enclave.
// The zero value opens DevicePath on first use.
type Provider struct {
	// Device is the NSM; nil means OpenDevice(DevicePath).
	Device Device
	// PublicKey is put in the document's public_key field (the enclave
	// key's SubjectPublicKeyInfo DER), for information; nil leaves it out.
	PublicKey []byte

	once sync.Once
	dev  Device
	err  error
}

var _ attest.Provider = (*Provider)(nil)

// Platform returns "nitro".
func (*Provider) Platform() string { return platform.Nitro }

type attestationRequest struct {
	UserData  []byte `cbor:"user_data"`
	Nonce     []byte `cbor:"nonce"`
	PublicKey []byte `cbor:"public_key"`
}

type attestationResponse struct {
	Document []byte `cbor:"document"`
}

// EncodeRequest is the NSM request for a document over reportData (as
// user_data) and publicKey (nil: none): the CBOR map
// {"Attestation": {"user_data": h'…', "nonce": null, "public_key": h'…' / null}}.
func EncodeRequest(reportData [64]byte, publicKey []byte) ([]byte, error) {
	req := map[string]attestationRequest{"Attestation": {UserData: reportData[:], PublicKey: publicKey}}
	b, err := cbor.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("nitro: request of %d bytes exceeds the NSM's %d (public key too long?)", len(b), MaxRequestSize)
	}
	return b, nil
}

// DecodeResponse returns the document in an NSM response, or an error
// wrapping ErrNSM with the module's error code.
func DecodeResponse(resp []byte) ([]byte, error) {
	if len(resp) > MaxResponseSize {
		return nil, fmt.Errorf("nitro: response of %d bytes exceeds %d", len(resp), MaxResponseSize)
	}
	var m map[string]cbor.RawMessage
	if err := decMode.Unmarshal(resp, &m); err != nil {
		var code string
		if decMode.Unmarshal(resp, &code) == nil {
			return nil, fmt.Errorf("%w: %s", ErrNSM, code)
		}
		return nil, fmt.Errorf("nitro: malformed NSM response: %v", err)
	}
	if raw, ok := m["Error"]; ok {
		var code string
		_ = decMode.Unmarshal(raw, &code)
		return nil, fmt.Errorf("%w: %s", ErrNSM, code)
	}
	raw, ok := m["Attestation"]
	if !ok {
		return nil, fmt.Errorf("nitro: NSM response is neither Attestation nor Error")
	}
	var a attestationResponse
	if err := decMode.Unmarshal(raw, &a); err != nil || len(a.Document) == 0 {
		return nil, fmt.Errorf("nitro: NSM attestation response carries no document")
	}
	return a.Document, nil
}

// Evidence asks the NSM for an attestation document with reportData as its
// user_data.
func (p *Provider) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.once.Do(func() {
		p.dev = p.Device
		if p.dev == nil {
			p.dev, p.err = OpenDevice(DevicePath)
		}
	})
	if p.err != nil {
		return nil, p.err
	}
	req, err := EncodeRequest(reportData, p.PublicKey)
	if err != nil {
		return nil, err
	}
	resp, err := p.dev.Exchange(req)
	if err != nil {
		return nil, fmt.Errorf("nitro: NSM request: %w", err)
	}
	return DecodeResponse(resp)
}
