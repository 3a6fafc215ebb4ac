package cli

import (
	"fmt"
	"io"
	"strings"
)

// WriteMatrixDOT prints m as a Graphviz digraph: a node per group, the
// flows allowed as intended in grey with their ports, every hole in red
// with the policies that open it, and intended flows the policies block
// dashed in orange. Render it with dot -Tsvg.
func WriteMatrixDOT(w io.Writer, m *Matrix) error {
	g := m.graph()
	var b strings.Builder
	b.WriteString("digraph segmentation {\n")
	fmt.Fprintf(&b, "  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label=%s];\n",
		dotString([]string{g.Title + ": traffic between tiers", graphLegend}))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#e8eef8\", fontname=\"Helvetica\"];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10, color=\"#777777\", fontcolor=\"#444444\"];\n")
	for _, grp := range g.Groups {
		attrs := dotGroupStyle[grp.Kind]
		if len(grp.Namespaces) == 0 {
			fmt.Fprintf(&b, "  %s [label=%s%s];\n", grp.Node.ID, dotString(grp.Node.Lines), attrs)
			continue
		}
		fmt.Fprintf(&b, "  subgraph cluster_%s {\n", grp.Node.ID)
		fmt.Fprintf(&b, "    label=%s; style=\"rounded,dashed\"; color=\"#999999\";\n", dotString([]string{grp.Name}))
		fmt.Fprintf(&b, "    %s [label=%s%s];\n", grp.Node.ID, dotString(grp.Node.Lines), attrs)
		for _, ns := range grp.Namespaces {
			fmt.Fprintf(&b, "    %s [label=%s, shape=ellipse, fillcolor=\"#ffffff\"];\n", ns.ID, dotString(ns.Lines))
		}
		b.WriteString("  }\n")
	}
	for _, e := range g.Edges {
		both := ""
		if e.Both {
			both = ", dir=both"
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s%s%s];\n", e.From, e.To, dotString(e.Lines), dotEdgeStyle[e.Kind], both)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

var dotGroupStyle = map[GroupKind]string{
	GroupTier:       "",
	GroupShared:     ", fillcolor=\"#e6f4e6\"",
	GroupUngoverned: ", fillcolor=\"#f2f2f2\", style=\"rounded,filled,dashed\"",
}

var dotEdgeStyle = map[edgeKind]string{
	edgeFlow:    "",
	edgeHole:    ", color=\"#d00000\", fontcolor=\"#d00000\", penwidth=2",
	edgeBlocked: ", color=\"#e08000\", fontcolor=\"#e08000\", style=dashed",
}

// dotString quotes lines as one DOT string, a line each. Inside a quoted
// DOT string a quote must be escaped and a backslash starts an escape
// (\n, \l, \N...), so both are escaped and a line break in a user's text
// becomes a line of the label, never the end of the statement.
func dotString(lines []string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	escaped := make([]string, len(lines))
	for i, l := range lines {
		escaped[i] = r.Replace(l)
	}
	return `"` + strings.Join(escaped, `\n`) + `"`
}
