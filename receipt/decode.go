package receipt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Decode finds the receipt in the JSON raw, in every shape the client
// commands write: a receipt, or a run result, pipeline result or problem
// document holding one. A bare receipt may have no unknown field. It does
// not verify the receipt: see Verify.
func Decode(raw []byte) (*Receipt, error) {
	var w struct {
		Receipt *Receipt `json:"receipt"`
		Result  *struct {
			Receipt *Receipt `json:"receipt"`
		} `json:"result"`
		// A pipeline result names its pipeline here (a string); a
		// problem about a stopped pipeline holds the result (an object).
		Pipeline json.RawMessage `json:"pipeline"`
		Version  *int            `json:"version"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("not a receipt: %w", err)
	}
	var pipeline struct {
		Receipt *Receipt `json:"receipt"`
	}
	if len(w.Pipeline) > 0 && w.Pipeline[0] == '{' {
		if err := json.Unmarshal(w.Pipeline, &pipeline); err != nil {
			return nil, fmt.Errorf("not a receipt: %w", err)
		}
	}
	switch {
	case w.Receipt != nil:
		return w.Receipt, nil
	case pipeline.Receipt != nil:
		return pipeline.Receipt, nil
	case w.Result != nil && w.Result.Receipt != nil:
		return w.Result.Receipt, nil
	case w.Version != nil:
		var r Receipt
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&r); err != nil {
			return nil, fmt.Errorf("not a receipt: %w", err)
		}
		return &r, nil
	}
	return nil, errors.New("no receipt found in the JSON")
}
