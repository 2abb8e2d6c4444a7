package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/truce-project/truce/attest"
)

// Profile is the EAT profile of simulated tokens.
const Profile = "tag:truce-project.org,2026:sim"

// Claim keys, from the PSA attestation token profile and EAT.
const (
	keyNonce      = 10   // EAT nonce: the 64 report-data bytes
	keyUEID       = 256  // EAT ueid: instance id
	keyProfile    = 265  // EAT profile
	keyIAT        = 6    // issued at
	keyLifecycle  = 2395 // PSA security lifecycle
	keyImplID     = 2396 // PSA implementation id
	keySWComps    = 2399 // PSA software components
	lifecycleSim  = 0x0000
	swMeasType    = 1
	swMeasValue   = 2
	swSignerID    = 5
	swMeasDesc    = 6
	runtimeSWName = "truce-runtime"
)

// implementationID names the simulated implementation.
var implementationID = sha256.Sum256([]byte("truce simulated platform v1"))

type swComponent struct {
	Type  string `cbor:"1,keyasint"`
	Value []byte `cbor:"2,keyasint"`
	// Signer is required by the PSA profile; the simulated platform has no
	// firmware signer, so it is the SHA-256 of the device UEID.
	Signer []byte `cbor:"5,keyasint"`
	Desc   string `cbor:"6,keyasint,omitempty"`
}

type claimsSet struct {
	Nonce     []byte        `cbor:"10,keyasint"`
	UEID      []byte        `cbor:"256,keyasint"`
	Profile   string        `cbor:"265,keyasint"`
	IAT       int64         `cbor:"6,keyasint"`
	Lifecycle uint16        `cbor:"2395,keyasint"`
	ImplID    []byte        `cbor:"2396,keyasint"`
	SWComps   []swComponent `cbor:"2399,keyasint"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8,
		MaxArrayElements:  64,
		MaxMapPairs:       64,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// ContentType is the COSE content type in a simulated token's protected
// header.
const ContentType = "application/eat-cwt; eat_profile=\"" + Profile + "\""

// TokenClaims returns the claims of a simulated token, CBOR-encoded as the
// device signs them: reportData as the nonce, the instance id of the
// device whose public key is devicePub, measurement as the runtime's
// software component, issued at iat. The device (internal/provider/sim)
// signs them as a COSE_Sign1 message with ES256, protected header
// ContentType; this package only reads them.
func TokenClaims(reportData [64]byte, devicePub *ecdsa.PublicKey, measurement []byte, iat time.Time) ([]byte, error) {
	ueid := UEID(devicePub)
	signer := sha256.Sum256(ueid)
	cs := claimsSet{
		Nonce: reportData[:], UEID: ueid, Profile: Profile, IAT: iat.Unix(),
		Lifecycle: lifecycleSim, ImplID: implementationID[:],
		SWComps: []swComponent{{Type: "RT", Value: measurement, Signer: signer[:], Desc: runtimeSWName}},
	}
	payload, err := encMode.Marshal(cs)
	if err != nil {
		return nil, fmt.Errorf("encoding simulated token claims: %w", err)
	}
	return payload, nil
}

type verifier struct {
	pub  *ecdsa.PublicKey
	ueid []byte
}

// NewVerifier returns the verifier of simulated tokens signed by the device
// whose public key is devicePub. It checks the ES256 signature and every
// claim the profile requires; its claims always say Simulated.
func NewVerifier(devicePub *ecdsa.PublicKey) attest.Verifier {
	return &verifier{pub: devicePub, ueid: UEID(devicePub)}
}

func (v *verifier) Platform() string { return attest.SimPlatform }

// maxToken bounds the evidence accepted, so a huge input is refused early.
const maxToken = 16 << 10

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: sim: %s", attest.ErrBadEvidence, fmt.Sprintf(format, a...))
}

func (v *verifier) Verify(evidence []byte, opts attest.VerifyOptions) (*attest.Claims, error) {
	if v.pub == nil {
		return nil, bad("no device public key configured")
	}
	if len(evidence) == 0 || len(evidence) > maxToken {
		return nil, bad("token is %d bytes, want 1..%d", len(evidence), maxToken)
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(evidence); err != nil {
		return nil, bad("not a COSE_Sign1 message: %v", err)
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil || alg != cose.AlgorithmES256 {
		return nil, bad("algorithm must be ES256 in the protected header")
	}
	cv, err := cose.NewVerifier(cose.AlgorithmES256, v.pub)
	if err != nil {
		return nil, bad("device key: %v", err)
	}
	if err := msg.Verify(nil, cv); err != nil {
		return nil, bad("signature does not verify with the configured device key (signed by another device, or altered): %v", err)
	}
	var cs claimsSet
	if err := decMode.Unmarshal(msg.Payload, &cs); err != nil {
		return nil, bad("claims: %v", err)
	}
	switch {
	case cs.Profile != Profile:
		return nil, bad("profile %q, want %q", cs.Profile, Profile)
	case len(cs.Nonce) != 64:
		return nil, bad("nonce is %d bytes, want the 64 report-data bytes", len(cs.Nonce))
	case !bytes.Equal(cs.UEID, v.ueid):
		return nil, bad("instance id %x is not the configured device's", cs.UEID)
	case !bytes.Equal(cs.ImplID, implementationID[:]):
		return nil, bad("unknown implementation id %x", cs.ImplID)
	case len(cs.SWComps) != 1 || len(cs.SWComps[0].Value) == 0:
		return nil, bad("want exactly one software component with a measurement")
	}
	now := opts.Time()
	if iat := time.Unix(cs.IAT, 0); iat.After(now.Add(5 * time.Minute)) {
		return nil, bad("token issued at %s, in the future", iat.UTC().Format(time.RFC3339))
	}
	c := &attest.Claims{
		Platform: attest.SimPlatform, Measurement: cs.SWComps[0].Value, Simulated: true,
		Details: map[string]string{
			"profile":             cs.Profile,
			"instance_id":         hex.EncodeToString(cs.UEID),
			"implementation_id":   hex.EncodeToString(cs.ImplID),
			"issued_at":           time.Unix(cs.IAT, 0).UTC().Format(time.RFC3339),
			"security_lifecycle":  "0x" + strconv.FormatUint(uint64(cs.Lifecycle), 16),
			"sw_component":        cs.SWComps[0].Desc,
			"sw_measurement_type": cs.SWComps[0].Type,
		},
	}
	copy(c.ReportData[:], cs.Nonce)
	return c, nil
}
