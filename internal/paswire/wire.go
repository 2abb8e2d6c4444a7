package paswire

import "time"

// NonceSize is the length of every nonce in bytes.
const NonceSize = 32

// NonceResponse is the answer to POST /v1/nonce.
type NonceResponse struct {
	Nonce   []byte    `json:"nonce"`
	Expires time.Time `json:"expires"`
}

// AttestRequest is the body of POST /v1/attest. Byte fields are base64
// (standard, padded) in JSON.
type AttestRequest struct {
	// Platform names the evidence's platform, such as "sim".
	Platform string `json:"platform"`
	// Evidence is the platform's evidence over the report data.
	Evidence []byte `json:"evidence"`
	// CSR is the DER certificate signing request for the enclave's TLS key.
	CSR []byte `json:"csr"`
	// Nonce is the nonce from POST /v1/nonce.
	Nonce []byte `json:"nonce"`
	// Policy is the exact bytes of the policy the enclave runs.
	Policy []byte `json:"policy"`
}
