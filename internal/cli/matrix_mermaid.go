package cli

import (
	"fmt"
	"io"
	"strings"
)

// WriteMatrixMermaid prints m as a Mermaid flowchart, which GitHub and
// GitLab render inside a ```mermaid block: the same picture as
// WriteMatrixDOT.
func WriteMatrixMermaid(w io.Writer, m *Matrix) error {
	g := m.graph()
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	fmt.Fprintf(&b, "  %%%% %s: traffic between tiers\n", mermaidComment(g.Title))
	fmt.Fprintf(&b, "  %%%% %s\n", graphLegend)
	b.WriteString("  classDef tier fill:#e8eef8,stroke:#555555\n")
	b.WriteString("  classDef shared fill:#e6f4e6,stroke:#555555\n")
	b.WriteString("  classDef ungoverned fill:#f2f2f2,stroke:#555555,stroke-dasharray:4 3\n")
	b.WriteString("  classDef namespace fill:#ffffff,stroke:#555555\n")
	for _, grp := range g.Groups {
		node := fmt.Sprintf("%s[%s]:::%s", grp.Node.ID, mermaidString(grp.Node.Lines), grp.Kind)
		if len(grp.Namespaces) == 0 {
			fmt.Fprintf(&b, "  %s\n", node)
			continue
		}
		fmt.Fprintf(&b, "  subgraph %s_box [%s]\n", grp.Node.ID, mermaidString([]string{grp.Name}))
		fmt.Fprintf(&b, "    %s\n", node)
		for _, ns := range grp.Namespaces {
			fmt.Fprintf(&b, "    %s([%s]):::namespace\n", ns.ID, mermaidString(ns.Lines))
		}
		b.WriteString("  end\n")
	}
	styles := map[edgeKind][]string{}
	for i, e := range g.Edges {
		arrow := "-->"
		switch {
		case e.Kind == edgeBlocked:
			arrow = "-.->"
		case e.Both:
			arrow = "<-->"
		}
		fmt.Fprintf(&b, "  %s %s|%s| %s\n", e.From, arrow, mermaidString(e.Lines), e.To)
		styles[e.Kind] = append(styles[e.Kind], fmt.Sprint(i))
	}
	for _, k := range []edgeKind{edgeFlow, edgeHole, edgeBlocked} {
		if len(styles[k]) > 0 {
			fmt.Fprintf(&b, "  linkStyle %s %s\n", strings.Join(styles[k], ","), mermaidEdgeStyle[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var mermaidEdgeStyle = map[edgeKind]string{
	edgeFlow:    "stroke:#777777,color:#444444",
	edgeHole:    "stroke:#d00000,stroke-width:3px,color:#d00000",
	edgeBlocked: "stroke:#e08000,color:#e08000",
}

// mermaidString quotes lines as one Mermaid label, a line each. Mermaid
// has no escape character inside a quoted label, only entity codes, so
// every character but letters, digits, spaces and a few harmless
// punctuation marks is written as #<code>; (a quote as #34;, a pipe as
// #124;): no user's text can close the label, the edge or the line, nor
// be read as markdown or HTML.
func mermaidString(lines []string) string {
	escaped := make([]string, len(lines))
	for i, l := range lines {
		var b strings.Builder
		for _, r := range l {
			if mermaidPlain(r) {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, "#%d;", r)
			}
		}
		escaped[i] = b.String()
	}
	return `"` + strings.Join(escaped, "<br>") + `"`
}

func mermaidPlain(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune(" .,:/-()=+", r)
}

// mermaidComment keeps a comment on its line.
func mermaidComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
