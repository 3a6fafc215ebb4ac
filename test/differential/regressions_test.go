package differential

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// regression is one decided disagreement, kept as a fixed case in
// testdata/regressions: the smallest cluster that showed it (as the
// shrinker printed it), the connection, and the right answer.
type regression struct {
	// Why says who was right, by which part of the API documentation.
	Why string `json:"why,omitempty"`
	// Known is the id of the known difference that explains the reference
	// engine's other answer; empty when both engines must give Want.
	Known   string   `json:"known,omitempty"`
	Cluster *cluster `json:"cluster"`
	Query   query    `json:"query"`
	Want    verdict  `json:"want"`
}

// TestRegressions replays every decided disagreement: internal/evaluate
// must give the right answer; the reference engine must too, unless the
// entry names a known difference, in which case it must still differ and
// the known difference must still claim the case (so that a fix upstream,
// or a filter that stopped matching, is noticed).
func TestRegressions(t *testing.T) {
	files, err := filepath.Glob("testdata/regressions/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no regressions in testdata/regressions")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r regression
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			if r.Why == "" {
				t.Error("the entry does not say why its answer is right")
			}
			if err := validate(r.Cluster); err != nil {
				t.Fatalf("the API server would refuse this cluster: %v", err)
			}
			tv, rv, reason, err := decideBoth(r.Cluster, r.Query)
			if err != nil {
				t.Fatal(err)
			}
			if tv != r.Want {
				t.Errorf("internal/evaluate: %s, want %s (%s)", tv, r.Want, reason)
			}
			switch {
			case r.Known == "" && rv != r.Want:
				t.Errorf("reference: %s, want %s", rv, r.Want)
			case r.Known != "" && rv == r.Want:
				t.Errorf("reference now gives the right answer (%s): known difference %q may be fixed upstream", rv, r.Known)
			case r.Known != "" && explain(r.Cluster, r.Query, r.Want, rv) != r.Known:
				t.Errorf("known difference %q no longer claims this case (reference: %s)", r.Known, rv)
			}
		})
	}
}

// regressionJSON renders an entry as the shrinker prints it: without the
// nulls and empty statuses the Go types would add.
func regressionJSON(r regression) ([]byte, error) {
	var tree any
	if err := roundTrip(r, &tree); err != nil {
		return nil, err
	}
	return json.MarshalIndent(dropNulls(tree), "", "  ")
}

func dropNulls(tree any) any {
	switch t := tree.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			if v == nil {
				continue
			}
			v = dropNulls(v)
			if m, ok := v.(map[string]any); ok && len(m) == 0 && (k == "status" || k == "metadata") {
				continue
			}
			out[k] = v
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			out[i] = dropNulls(v)
		}
		return out
	}
	return tree
}
