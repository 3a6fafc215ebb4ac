package dataplane

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Cell is one source namespace, destination namespace and port.
type Cell struct {
	From, To string
	Port     Port
}

// String returns e.g. "dev-a -> prod-a tcp/8080".
func (c Cell) String() string { return c.From + " -> " + c.To + " " + c.Port.String() }

// Matrix is which cells are open, for every ordered pair of namespaces
// (rows are sources, columns destinations) on every port.
type Matrix struct {
	// Namespaces orders the rows and columns.
	Namespaces []string
	// Ports orders the ports within a cell.
	Ports []Port
	open  map[Cell]bool
}

// NewMatrix returns the matrix with open(cell) for each cell.
func NewMatrix(namespaces []string, ports []Port, open func(Cell) bool) Matrix {
	m := Matrix{Namespaces: namespaces, Ports: ports, open: map[Cell]bool{}}
	for _, c := range m.Cells() {
		m.open[c] = open(c)
	}
	return m
}

// Cells returns every cell, rows first.
func (m Matrix) Cells() []Cell {
	cells := make([]Cell, 0, len(m.Namespaces)*len(m.Namespaces)*len(m.Ports))
	for _, from := range m.Namespaces {
		for _, to := range m.Namespaces {
			for _, p := range m.Ports {
				cells = append(cells, Cell{From: from, To: to, Port: p})
			}
		}
	}
	return cells
}

// Open reports whether a cell is open.
func (m Matrix) Open(c Cell) bool { return m.open[c] }

// CountOpen returns how many cells are open.
func (m Matrix) CountOpen() int {
	n := 0
	for _, open := range m.open {
		if open {
			n++
		}
	}
	return n
}

// Diff lists the cells where m differs from want, or nil when they agree.
func (m Matrix) Diff(want Matrix) []string {
	var diffs []string
	for _, c := range want.Cells() {
		if got, wanted := m.open[c], want.open[c]; got != wanted {
			diffs = append(diffs, fmt.Sprintf("%s: measured %s, intended %s", c, openWord(got), openWord(wanted)))
		}
	}
	return diffs
}

func openWord(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

// String renders the matrix as a table: one row per source, one column per
// destination, each cell one character per port, "+" open and "-" closed.
func (m Matrix) String() string {
	ports := make([]string, len(m.Ports))
	for i, p := range m.Ports {
		ports[i] = p.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rows: from; columns: to; each cell: %s (+ open, - closed)\n", strings.Join(ports, " "))
	rowWidth := len("from \\ to")
	for _, ns := range m.Namespaces {
		rowWidth = max(rowWidth, len(ns))
	}
	fmt.Fprintf(&b, "%-*s", rowWidth, "from \\ to")
	widths := make([]int, len(m.Namespaces))
	for i, ns := range m.Namespaces {
		widths[i] = max(len(ns), len(m.Ports))
		fmt.Fprintf(&b, " %-*s", widths[i], ns)
	}
	b.WriteString("\n")
	for _, from := range m.Namespaces {
		fmt.Fprintf(&b, "%-*s", rowWidth, from)
		for i, to := range m.Namespaces {
			var cell strings.Builder
			for _, p := range m.Ports {
				if m.open[Cell{From: from, To: to, Port: p}] {
					cell.WriteByte('+')
				} else {
					cell.WriteByte('-')
				}
			}
			fmt.Fprintf(&b, " %-*s", widths[i], cell.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Measure measures every cell with real connections: the probe client runs
// in each source pod's network namespace, all sources at once, each trying
// every destination and port at once. A cell is open when the destination
// pod's probe server answered with its name.
func (b *Bed) Measure(ctx context.Context, ports []Port) (Matrix, error) {
	namespaces := b.Namespaces()
	udpTargets := 0
	for _, p := range ports {
		if p.Protocol == "UDP" {
			udpTargets += len(b.pods)
		}
	}
	// Sources are in different network namespaces: they share one block.
	udpSource := b.udpSourceBlock(udpTargets)
	var mu sync.Mutex
	open := map[Cell]bool{}
	var wg sync.WaitGroup
	errs := make([]error, len(b.pods))
	for i, src := range b.pods {
		wg.Go(func() {
			var targets []string
			cellOf := map[string]Cell{}
			for _, dst := range b.pods {
				for _, p := range ports {
					t := p.target(dst.IP)
					targets = append(targets, t)
					cellOf[t] = Cell{From: src.Namespace, To: dst.Namespace, Port: p}
				}
			}
			results, err := dial(ctx, b.probeBin, src, targets, udpSource)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for t, r := range results {
				c := cellOf[t]
				if r.Open && r.Peer != c.To {
					errs[i] = fmt.Errorf("%s reached the pod of %s instead: the bed's addressing is wrong", c, r.Peer)
					return
				}
				open[c] = r.Open
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Matrix{}, err
		}
	}
	return NewMatrix(namespaces, ports, func(c Cell) bool { return open[c] }), nil
}
