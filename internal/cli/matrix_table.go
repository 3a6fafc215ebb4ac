package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tierguard/tierguard/internal/evaluate"
)

// MatrixNote ends every human matrix: what was checked is the policies'
// meaning, not that the network plugin implements them.
const MatrixNote = "Verified at namespace level from the policies; whether the CNI enforces them is a property of the cluster."

// Legends of the two tables.
const (
	tierLegend      = "allow: every port; deny: no port; -: no two different namespaces; *: the namespace pairs disagree (union shown); !: differs from the profile's intent"
	namespaceLegend = "allow: every port; deny: no port; !: differs from the profile's intent"
)

// WriteMatrix prints m for a person: the namespaces of each tier, the table
// (tiers, or namespaces with byNamespace), the differences from the intent
// with the policies responsible, and notes on what the answer assumes.
// notes are printed before MatrixNote.
func WriteMatrix(w io.Writer, m *Matrix, byNamespace bool, notes ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Profile %s (%s): traffic from each row to each column\n", m.Profile, m.Mode)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, g := range m.Groups {
		names := strings.Join(g.Namespaces, ", ")
		if names == "" {
			names = "(no namespaces)"
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\n", g.Name, names)
	}
	_ = tw.Flush()
	b.WriteString("\n")

	idx := map[[2]string]*Pair{}
	for i := range m.Pairs {
		idx[[2]string{m.Pairs[i].From, m.Pairs[i].To}] = &m.Pairs[i]
	}
	tw = tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	legend := tierLegend
	if byNamespace {
		legend = namespaceLegend
		m.namespaceTable(tw, idx)
	} else {
		m.tierTable(tw, idx)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\n%s\n\n", legend)

	diffs := m.Differences()
	if len(diffs) == 0 {
		b.WriteString("No differences from the profile's intent.\n")
	} else {
		b.WriteString("Differences from the profile's intent:\n")
		for _, p := range diffs {
			fmt.Fprintf(&b, "  %s\n", m.describe(p))
		}
	}
	b.WriteString("\n")
	if m.NamedPorts {
		b.WriteString("A named port is shown by its name (TCP/\"https\"): the number it names depends on the pods, so it is neither taken for another port nor for all of them.\n")
	}
	if m.IPBlocks {
		fmt.Fprintf(&b, "ipBlock peers match pods only inside the pod CIDRs %s (--pod-cidr).\n", strings.Join(m.PodCIDRs, ", "))
	}
	for _, n := range notes {
		fmt.Fprintln(&b, n)
	}
	fmt.Fprintln(&b, MatrixNote)
	_, err := io.WriteString(w, b.String())
	return err
}

// tierTable prints one row and column per group. A cell covers the pairs
// of different namespaces; pairs of a namespace with itself count only for
// the ! marker, or a Namespace-isolated tier would always read "allow".
func (m *Matrix) tierTable(tw io.Writer, idx map[[2]string]*Pair) {
	header := []string{`FROM\TO`}
	for _, g := range m.Groups {
		header = append(header, g.Name)
	}
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, from := range m.Groups {
		row := []string{from.Name}
		for _, to := range m.Groups {
			row = append(row, groupCell(from, to, idx))
		}
		_, _ = fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
}

func groupCell(from, to Group, idx map[[2]string]*Pair) string {
	var union, first evaluate.PortSet
	pairs, disagree, differs := 0, false, false
	for _, a := range from.Namespaces {
		for _, b := range to.Namespaces {
			p := idx[[2]string{a, b}]
			differs = differs || p.Differs
			if a == b {
				continue
			}
			if pairs == 0 {
				first = p.actual
			} else if !p.actual.Equal(first) {
				disagree = true
			}
			pairs++
			union = union.Union(p.actual)
		}
	}
	text := "-"
	if pairs > 0 {
		text = cell(union)
	}
	if disagree {
		text += "*"
	}
	if differs {
		text += "!"
	}
	return text
}

// namespaceTable prints one row and column per namespace, group by group.
func (m *Matrix) namespaceTable(tw io.Writer, idx map[[2]string]*Pair) {
	var names []string
	for _, g := range m.Groups {
		names = append(names, g.Namespaces...)
	}
	_, _ = fmt.Fprintln(tw, `FROM\TO`+"\t"+strings.Join(names, "\t"))
	for _, from := range names {
		row := []string{from}
		for _, to := range names {
			p := idx[[2]string{from, to}]
			cell := cell(p.actual)
			if p.Differs {
				cell += "!"
			}
			row = append(row, cell)
		}
		_, _ = fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
}

// describe words one difference: the namespaces and their groups, the
// ports allowed beyond the intent and those blocked, and who is to blame.
func (m *Matrix) describe(p Pair) string {
	var what []string
	if !p.extra.Empty() {
		extra := "allows " + phrase(p.extra)
		if p.someOnly {
			extra += " for some pods"
		}
		what = append(what, extra)
	}
	if !p.missing.Empty() {
		what = append(what, "blocks "+phrase(p.missing))
	}
	line := fmt.Sprintf("%s %s -> %s %s: %s (intended: %s)",
		p.From, m.groupOf(p.From), p.To, m.groupOf(p.To), strings.Join(what, " and "), cell(p.intended))
	if by := append(append([]string(nil), p.Responsible...), p.unisolated...); len(by) > 0 {
		line += "; by " + strings.Join(by, ", ")
	}
	return line
}
