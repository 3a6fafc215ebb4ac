package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tierguard/tierguard/internal/render"
)

func TestReadNamespacesFormats(t *testing.T) {
	want := []render.Namespace{
		{Name: "a", Labels: map[string]string{"kubernetes.io/metadata.name": "a", "env": "dev"}},
		{Name: "b", Labels: map[string]string{"kubernetes.io/metadata.name": "b"}, Terminating: true},
		{Name: "c", Labels: map[string]string{"kubernetes.io/metadata.name": "c"}, Terminating: true},
	}
	cases := map[string]string{
		"kubectl get -o yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: c, deletionTimestamp: "2026-01-01T00:00:00Z"}}
- {apiVersion: v1, kind: Namespace, metadata: {name: a, labels: {env: dev}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}, status: {phase: Terminating}}
`,
		"stream": `---
apiVersion: v1
kind: Namespace
metadata: {name: b}
status: {phase: Terminating}
---
# nothing here
---
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {env: dev, kubernetes.io/metadata.name: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: c, deletionTimestamp: "2026-01-01T00:00:00Z"}
`,
		"kubectl get -o json": `{"apiVersion": "v1", "kind": "NamespaceList", "items": [
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"env": "dev"}}},
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}, "status": {"phase": "Terminating"}},
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}}]}`,
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ReadNamespaces(strings.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadNamespacesRefuses(t *testing.T) {
	cases := map[string]string{
		"another kind":           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"another kind in a List": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: x}}\n",
		"no name":                "apiVersion: v1\nkind: Namespace\nmetadata: {}\n",
		"duplicate key":          "apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: x}\n",
		"listed twice":           "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := ReadNamespaces(strings.NewReader(input)); err == nil {
				t.Errorf("ReadNamespaces = %+v, want an error", got)
			}
		})
	}
}

// TestReadProfileObjectIntegers: the schema's integer checks and CEL's
// type(self.port) == int see int64, as they do in the API server.
func TestReadProfileObjectIntegers(t *testing.T) {
	obj, err := ReadProfileObject(strings.NewReader("spec: {flows: [{ports: [{port: 443, endPort: 445}]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	port := obj["spec"].(map[string]any)["flows"].([]any)[0].(map[string]any)["ports"].([]any)[0].(map[string]any)
	if _, ok := port["port"].(int64); !ok {
		t.Errorf("port decoded as %T, want int64", port["port"])
	}
}

func TestReadProfileObjectNeedsOneDocument(t *testing.T) {
	for _, input := range []string{"", "# only a comment\n", "a: 1\n---\nb: 2\n"} {
		if _, err := ReadProfileObject(strings.NewReader(input)); err == nil || !strings.Contains(err.Error(), "expected exactly one") {
			t.Errorf("ReadProfileObject(%q) error = %v", input, err)
		}
	}
}
