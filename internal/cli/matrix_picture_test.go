package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
)

var updatePictures = flag.Bool("update", false, "rewrite testdata/picture from the current output")

// pictureWriters are the picture formats, by golden file extension.
var pictureWriters = map[string]func(*bytes.Buffer, *Matrix) error{
	"dot": func(b *bytes.Buffer, m *Matrix) error { return WriteMatrixDOT(b, m) },
	"mmd": func(b *bytes.Buffer, m *Matrix) error { return WriteMatrixMermaid(b, m) },
}

// TestMatrixPictureGolden compares the DOT and Mermaid pictures with
// golden files, and has Graphviz parse the DOT when it is installed.
func TestMatrixPictureGolden(t *testing.T) {
	cases := map[string]func(t *testing.T) *Matrix{
		// No difference: grey flows only, no namespace drawn.
		"rendered": func(t *testing.T) *Matrix { return matrixOf(t, matrixProfile(), nil) },
		// a-1 (not a-2) reaches b-1 on TCP/22: both ends are namespaces;
		// everything ungoverned reaches b-2: the source is the group.
		"holes": func(t *testing.T) *Matrix {
			p := matrixProfile()
			p.Spec.Egress.Isolation = segv1.EgressIsolationNone
			return matrixOf(t, p, func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
				return addAllowAll("b-2")(append(ps, fromNamespace("b-1", "ssh", "a-1", intstr.FromInt32(22))))
			})
		},
		// An Admin Deny blocks the flow from a to b: dashed, by the policy.
		"blocked": func(t *testing.T) *Matrix {
			return matrixWith(t, matrixProfile(), nil,
				[]npav1beta1.ClusterNetworkPolicy{toTierB("deny-a", npav1beta1.ClusterNetworkPolicyRuleActionDeny, fromTierA)})
		},
	}
	for name, build := range cases {
		m := build(t)
		for ext, write := range pictureWriters {
			t.Run(name+"."+ext, func(t *testing.T) {
				var b bytes.Buffer
				if err := write(&b, m); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "picture", name+"."+ext)
				if *updatePictures {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), b.String()); diff != "" {
					t.Errorf("output differs from %s (-golden +output); rerun with -update after review:\n%s", path, diff)
				}
				if ext == "dot" {
					graphvizParse(t, b.Bytes())
				}
			})
		}
	}
}

// graphvizParse runs Graphviz on a DOT graph and returns its node and edge
// labels as Graphviz read them; it skips the test without Graphviz.
func graphvizParse(t *testing.T, dot []byte) (nodes, edges []string) {
	t.Helper()
	bin, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz's dot is not on PATH, so the DOT output is not parsed (apt-get install graphviz to check it)")
	}
	cmd := exec.Command(bin, "-Tjson0")
	cmd.Stdin = bytes.NewReader(dot)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot refuses the output: %v\n%s\n%s", err, stderr.String(), dot)
	}
	var parsed struct {
		Objects []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
			Nodes []int  `json:"nodes"`
		} `json:"objects"`
		Edges []struct {
			Label string `json:"label"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("decoding dot -Tjson0: %v", err)
	}
	for _, o := range parsed.Objects {
		if o.Nodes == nil { // clusters list their nodes; nodes do not
			nodes = append(nodes, o.Label)
		}
	}
	for _, e := range parsed.Edges {
		edges = append(edges, e.Label)
	}
	return nodes, edges
}

// hostileMatrix has names, policies and a named port full of the
// characters that end a label, a statement or a line in DOT and Mermaid.
func hostileMatrix() *Matrix {
	const (
		tier   = `t"1`
		nsA    = "a\"; g1 -> g0 [color=green]; \"\n-> g0"
		nsB    = `b|x]; g0-->g1`
		policy = "p\\\" -> g1 %% <b>#quot;`x`\r\nend"
	)
	named := evaluate.NewPortSet(nil, []evaluate.PortName{{Protocol: corev1.ProtocolTCP, Name: `ht"|<br>tp`}})
	return &Matrix{
		Profile: `prof"ile` + "\n}", Mode: "Enforce",
		Groups: []Group{
			{Name: tier, Kind: GroupTier, Namespaces: []string{"a\"; g1 -> g0 [color=green]; \"\n-> g0", `b|x]; g0-->g1`, "c"}},
			{Name: "(ungoverned)", Kind: GroupUngoverned, Namespaces: []string{"u"}},
		},
		Pairs: []Pair{
			{From: nsA, To: nsB, Differs: true, Responsible: []string{policy}, extra: named, actual: named},
			{From: "u", To: "c", actual: named, intended: named},
		},
	}
}

// TestMatrixPictureEscapesLabels: whatever users name things, the picture
// has exactly its own nodes and edges, and every label reads back as the
// text it was given.
func TestMatrixPictureEscapesLabels(t *testing.T) {
	m := hostileMatrix()
	g := m.graph()
	wantEdges := len(g.Edges)
	if wantEdges != 2 {
		t.Fatalf("the hostile matrix makes %d edges, want a flow and a hole", wantEdges)
	}
	var wantEdgeLabels []string
	for _, e := range g.Edges {
		wantEdgeLabels = append(wantEdgeLabels, strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(strings.Join(e.Lines, "\n")))
	}

	t.Run("mermaid", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteMatrixMermaid(&b, m); err != nil {
			t.Fatal(err)
		}
		// Every line is a comment, a class, a node, a subgraph, an edge or
		// a style, and every label is one quoted string of plain
		// characters and entity codes.
		label := `"(?:[A-Za-z0-9 .,:/=+()-]|#[0-9]+;|<br>)*"`
		line := regexp.MustCompile(`^  (?:%% .*|classDef \w+ .*|end|linkStyle [0-9,]+ \S+|` +
			`subgraph g[0-9]+_box \[` + label + `\]|` +
			`  (?:g[0-9]+\[` + label + `\]:::\w+|g[0-9]+n[0-9]+\(\[` + label + `\]\):::namespace)|` +
			`g[0-9]+\[` + label + `\]:::\w+|` +
			`(g[0-9]+(?:n[0-9]+)?) (?:-->|<-->|-\.->)\|` + label + `\| (g[0-9]+(?:n[0-9]+)?))$`)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if lines[0] != "flowchart LR" {
			t.Errorf("first line %q", lines[0])
		}
		edges := 0
		for _, l := range lines[1:] {
			match := line.FindStringSubmatch(l)
			if match == nil {
				t.Errorf("line breaks the syntax: %q", l)
				continue
			}
			if match[1] != "" {
				edges++
			}
		}
		if edges != wantEdges {
			t.Errorf("%d edges, want %d:\n%s", edges, wantEdges, b.String())
		}
		decoded := mermaidDecode(b.String())
		for _, want := range []string{`t"1`, "b|x]; g0-->g1", `TCP/"ht\"|<br>tp"`, "p\\\" -> g1 %% <b>#quot;`x`"} {
			if !strings.Contains(decoded, want) {
				t.Errorf("labels lost %q:\n%s", want, b.String())
			}
		}
	})

	t.Run("dot", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteMatrixDOT(&b, m); err != nil {
			t.Fatal(err)
		}
		// Without Graphviz: outside the quoted strings only the writer's
		// own syntax is left, with one arrow per edge.
		outside := regexp.MustCompile(`"(?:[^"\\\n]|\\.)*"`).ReplaceAllString(b.String(), "S")
		if strings.ContainsAny(outside, `"\`) || strings.Count(outside, "->") != wantEdges || strings.Contains(outside, "green") {
			t.Errorf("labels leak into the syntax:\n%s", outside)
		}
		nodes, edges := graphvizParse(t, b.Bytes())
		if len(nodes) != 4 { // the tier, the ungoverned group and the two namespaces of the hole
			t.Errorf("dot reads %d nodes, want 4: %q", len(nodes), nodes)
		}
		got := dotUnescape(edges)
		slices.Sort(got)
		slices.Sort(wantEdgeLabels)
		if diff := cmp.Diff(wantEdgeLabels, got); diff != "" {
			t.Errorf("edge labels (-want +dot):\n%s", diff)
		}
		if !slices.Contains(dotUnescape(nodes), "a\"; g1 -> g0 [color=green]; \"\n-> g0") {
			t.Errorf("the namespace's label does not read back: %q", nodes)
		}
	})
}

// mermaidDecode turns entity codes back into characters, as Mermaid does.
func mermaidDecode(s string) string {
	return regexp.MustCompile(`#([0-9]+);`).ReplaceAllStringFunc(s, func(e string) string {
		var r rune
		for _, d := range e[1 : len(e)-1] {
			r = r*10 + d - '0'
		}
		return string(r)
	})
}

// dotUnescape reads labels as Graphviz draws them: \\ is a backslash,
// \n a line break (the lexer has already made \" a quote).
func dotUnescape(labels []string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		var b strings.Builder
		for j := 0; j < len(l); j++ {
			if l[j] == '\\' && j+1 < len(l) {
				j++
				switch l[j] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(l[j])
				}
				continue
			}
			b.WriteByte(l[j])
		}
		out[i] = b.String()
	}
	return out
}
