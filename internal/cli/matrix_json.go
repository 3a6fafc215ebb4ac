package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteMatrixJSON prints the pairs of m as a JSON array, one object per
// ordered pair of namespaces, for scripts: jq '.[] | select(.differs)'.
func WriteMatrixJSON(w io.Writer, m *Matrix) error {
	pairs := m.Pairs
	if pairs == nil {
		pairs = []Pair{} // [] rather than null
	}
	data, err := json.MarshalIndent(pairs, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding the matrix: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
