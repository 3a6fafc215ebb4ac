package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tierguard/tierguard/internal/evaluate"
)

// The picture of a matrix (-o dot, -o mermaid) has one node per group, so
// that it stays readable at tens of tiers and hundreds of namespaces.
// Namespaces appear, inside their group, only where a difference from the
// intent involves some but not all of the group's namespaces.

// edgeKind says what an edge of the picture shows.
type edgeKind int

const (
	// edgeFlow is traffic the profile intends and the policies allow.
	edgeFlow edgeKind = iota
	// edgeHole is traffic the policies allow and the profile forbids.
	edgeHole
	// edgeBlocked is traffic the profile intends and the policies block.
	edgeBlocked
)

// graphNode is a group or a namespace of the picture. ID is generated, so
// that no user-chosen name ever reaches the syntax outside a label.
type graphNode struct {
	ID    string
	Lines []string
}

// graphGroup is a group's node and the namespaces drawn inside it.
type graphGroup struct {
	Name       string
	Kind       GroupKind
	Node       graphNode
	Namespaces []graphNode
}

// graphEdge is one arrow; Lines are its label.
type graphEdge struct {
	From, To string
	Kind     edgeKind
	Lines    []string
	// Both marks a flow allowed the same way in both directions, drawn
	// as one arrow with two heads so that a tier open to the shared
	// namespaces does not cost two.
	Both bool
}

// matrixGraph is the picture of a Matrix, independent of the syntax.
type matrixGraph struct {
	Title  string
	Groups []graphGroup
	Edges  []graphEdge
}

// Legend of the picture.
const graphLegend = "grey: allowed as intended; red: allowed against the intent (a hole), by the policies named; orange dashed: intended but blocked"

// graph builds the picture of m.
func (m *Matrix) graph() *matrixGraph {
	g := &matrixGraph{Title: fmt.Sprintf("Profile %s (%s)", m.Profile, m.Mode)}
	groupOf := map[string]int{}
	for i, grp := range m.Groups {
		for _, ns := range grp.Namespaces {
			groupOf[ns] = i
		}
	}
	idx := map[[2]string]*Pair{}
	for i := range m.Pairs {
		idx[[2]string{m.Pairs[i].From, m.Pairs[i].To}] = &m.Pairs[i]
	}
	for i, grp := range m.Groups {
		lines := []string{grp.Name, countNamespaces(len(grp.Namespaces))}
		if len(grp.Namespaces) > 1 {
			inside, _ := flowBetween(grp, grp, idx)
			lines = append(lines, "inside: "+inside)
		}
		g.Groups = append(g.Groups, graphGroup{Name: grp.Name, Kind: grp.Kind, Node: graphNode{ID: fmt.Sprintf("g%d", i), Lines: lines}})
	}
	for i, from := range m.Groups {
		for j := i + 1; j < len(m.Groups); j++ {
			to := m.Groups[j]
			there, okThere := flowBetween(from, to, idx)
			back, okBack := flowBetween(to, from, idx)
			fromID, toID := g.Groups[i].Node.ID, g.Groups[j].Node.ID
			switch {
			case okThere && okBack && there == back:
				g.Edges = append(g.Edges, graphEdge{From: fromID, To: toID, Kind: edgeFlow, Lines: []string{there}, Both: true})
			default:
				if okThere {
					g.Edges = append(g.Edges, graphEdge{From: fromID, To: toID, Kind: edgeFlow, Lines: []string{there}})
				}
				if okBack {
					g.Edges = append(g.Edges, graphEdge{From: toID, To: fromID, Kind: edgeFlow, Lines: []string{back}})
				}
			}
		}
	}
	g.addDifferences(m, groupOf)
	return g
}

func countNamespaces(n int) string {
	if n == 1 {
		return "1 namespace"
	}
	return fmt.Sprintf("%d namespaces", n)
}

// flowBetween is the traffic allowed as intended between the different
// namespaces of two groups: their union, marked "some pairs" when the
// pairs disagree. ok is false when there is none.
func flowBetween(from, to Group, idx map[[2]string]*Pair) (label string, ok bool) {
	var union, first evaluate.PortSet
	pairs, disagree := 0, false
	for _, a := range from.Namespaces {
		for _, b := range to.Namespaces {
			if a == b {
				continue
			}
			p := idx[[2]string{a, b}]
			if p == nil {
				continue
			}
			s := p.actual.Intersect(p.intended)
			if pairs == 0 {
				first = s
			} else if !s.Equal(first) {
				disagree = true
			}
			pairs++
			union = union.Union(s)
		}
	}
	if union.Empty() {
		return "no traffic", false
	}
	label = phrase(union)
	if disagree {
		label += " (some pairs)"
	}
	return label, true
}

// differenceKey gathers the differences one arrow may stand for.
type differenceKey struct {
	fromGroup, toGroup int
	kind               edgeKind
	label              string // the label's lines, quoted: "\n" may be in a name
}

// addDifferences adds the holes and the blocked flows. The differences
// between two groups with the same ports and the same policies become as
// few arrows as can say exactly which pairs they cover: a side is the
// group when it is all of the group's namespaces, else the namespaces.
func (g *matrixGraph) addDifferences(m *Matrix, groupOf map[string]int) {
	byKey := map[differenceKey]map[string][]string{} // destination -> sources
	lines := map[differenceKey][]string{}
	for _, p := range m.Differences() {
		by := append(append([]string(nil), p.Responsible...), p.unisolated...)
		if !p.extra.Empty() {
			ports := phrase(p.extra)
			if p.someOnly {
				ports += " for some pods"
			}
			g.addDifference(byKey, lines, m, groupOf, p, edgeHole, ports, by)
		}
		if !p.missing.Empty() {
			g.addDifference(byKey, lines, m, groupOf, p, edgeBlocked, "blocked: "+phrase(p.missing), by)
		}
	}
	keys := make([]differenceKey, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b differenceKey) int {
		return cmp.Or(cmp.Compare(a.fromGroup, b.fromGroup), cmp.Compare(a.toGroup, b.toGroup),
			cmp.Compare(a.kind, b.kind), cmp.Compare(a.label, b.label))
	})
	for _, k := range keys {
		from, to := m.Groups[k.fromGroup], m.Groups[k.toGroup]
		// Destinations with the same sources share their arrows.
		bySources := map[string][]string{}
		for dst, srcs := range byKey[k] {
			key := strings.Join(g.side(k.fromGroup, from, srcs), "\x00")
			bySources[key] = append(bySources[key], dst)
		}
		sourceKeys := make([]string, 0, len(bySources))
		for s := range bySources {
			sourceKeys = append(sourceKeys, s)
		}
		slices.Sort(sourceKeys)
		var edges []graphEdge
		for _, s := range sourceKeys {
			for _, src := range strings.Split(s, "\x00") {
				for _, dst := range g.side(k.toGroup, to, bySources[s]) {
					edges = append(edges, graphEdge{From: src, To: dst, Kind: k.kind, Lines: lines[k]})
				}
			}
		}
		slices.SortFunc(edges, func(a, b graphEdge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
		g.Edges = append(g.Edges, edges...)
	}
}

func (g *matrixGraph) addDifference(byKey map[differenceKey]map[string][]string, lines map[differenceKey][]string,
	m *Matrix, groupOf map[string]int, p Pair, kind edgeKind, ports string, by []string) {
	label := []string{ports}
	if len(by) > 0 {
		label = append(label, "by "+strings.Join(by, ", "))
	}
	k := differenceKey{fromGroup: groupIndex(m, groupOf, p.From), toGroup: groupIndex(m, groupOf, p.To), kind: kind, label: fmt.Sprintf("%q", label)}
	if byKey[k] == nil {
		byKey[k] = map[string][]string{}
		lines[k] = label
	}
	byKey[k][p.To] = append(byKey[k][p.To], p.From)
}

// groupIndex is the index of ns's group; every live namespace has one.
func groupIndex(m *Matrix, groupOf map[string]int, ns string) int {
	if i, ok := groupOf[ns]; ok {
		return i
	}
	return len(m.Groups) - 1
}

// side returns the node IDs that stand for namespaces of group i: the
// group's node when they are all of its namespaces, else one node each,
// added inside the group.
func (g *matrixGraph) side(i int, grp Group, namespaces []string) []string {
	namespaces = slices.Clone(namespaces)
	slices.Sort(namespaces)
	namespaces = slices.Compact(namespaces)
	if slices.Equal(namespaces, grp.Namespaces) {
		return []string{g.Groups[i].Node.ID}
	}
	ids := make([]string, 0, len(namespaces))
	for _, ns := range namespaces {
		ids = append(ids, g.namespaceNode(i, grp, ns))
	}
	return ids
}

// namespaceNode returns the ID of ns's node inside group i, adding it.
func (g *matrixGraph) namespaceNode(i int, grp Group, ns string) string {
	pos, _ := slices.BinarySearch(grp.Namespaces, ns)
	id := fmt.Sprintf("g%dn%d", i, pos)
	nodes := &g.Groups[i].Namespaces
	at, found := slices.BinarySearchFunc(*nodes, id, func(n graphNode, id string) int { return compareNodeIDs(n.ID, id) })
	if !found {
		*nodes = slices.Insert(*nodes, at, graphNode{ID: id, Lines: []string{ns}})
	}
	return id
}

// compareNodeIDs orders g1n2 before g1n10.
func compareNodeIDs(a, b string) int {
	var ag, an, bg, bn int
	_, _ = fmt.Sscanf(a, "g%dn%d", &ag, &an)
	_, _ = fmt.Sscanf(b, "g%dn%d", &bg, &bn)
	return cmp.Or(cmp.Compare(ag, bg), cmp.Compare(an, bn))
}
