package evaluate

import "sort"

// This file decides questions of the form "is there a pair of label sets
// (source pod, destination pod) satisfying these selector constraints?".
//
// Label keys are independent of each other, so a set of constraints is
// satisfiable exactly when, key by key, some value (or the key's absence)
// satisfies every constraint on that key. Each constraint on a key is a
// valueSet, which is closed under complement and intersection, so both
// "matches selector S" and "does not match selector S" are expressible.
// Negated selectors turn the problem into a small satisfiability search;
// policy sets are small, and a budget bounds pathological inputs.

// valueSet is the set of states of one label key that satisfy a
// constraint: "absent", plus either exactly vals (finite) or every value
// except vals (cofinite). Label values form an effectively unbounded
// domain, so a cofinite set is never empty.
type valueSet struct {
	absent   bool
	cofinite bool
	vals     []string // sorted, unique
}

func (s valueSet) complement() valueSet {
	return valueSet{absent: !s.absent, cofinite: !s.cofinite, vals: s.vals}
}

func (s valueSet) empty() bool {
	return !s.absent && !s.cofinite && len(s.vals) == 0
}

func (s valueSet) intersect(o valueSet) valueSet {
	out := valueSet{absent: s.absent && o.absent}
	switch {
	case !s.cofinite && !o.cofinite:
		out.vals = intersectSorted(s.vals, o.vals)
	case !s.cofinite:
		out.vals = subtractSorted(s.vals, o.vals)
	case !o.cofinite:
		out.vals = subtractSorted(o.vals, s.vals)
	default:
		out.cofinite = true
		out.vals = sortedUnique(append(append([]string(nil), s.vals...), o.vals...))
	}
	return out
}

// side says whose labels a literal constrains.
type side int

const (
	srcSide side = iota
	dstSide
)

// lit constrains one key of one pod's labels to a valueSet.
type lit struct {
	side side
	key  string
	set  valueSet
}

// term is a conjunction of literals; clause is a disjunction of terms.
// An empty clause is false, which is how "not matched by the empty
// selector" is expressed.
type (
	term   []lit
	clause []term
)

// onSide copies a selector's literals onto a side, as a conjunction.
func (s *selector) onSide(sd side) term {
	t := make(term, len(s.lits))
	for i, l := range s.lits {
		t[i] = lit{side: sd, key: l.key, set: l.set}
	}
	return t
}

// notOnSide is "the pod on sd does not match s": by De Morgan, some one
// requirement fails.
func (s *selector) notOnSide(sd side) clause {
	c := make(clause, len(s.lits))
	for i, l := range s.lits {
		c[i] = term{{side: sd, key: l.key, set: l.set.complement()}}
	}
	return c
}

// negateTerm is "not all of t", one alternative per literal.
func negateTerm(t term) clause {
	c := make(clause, len(t))
	for i, l := range t {
		c[i] = term{{side: l.side, key: l.key, set: l.set.complement()}}
	}
	return c
}

// solverBudget bounds search nodes per query. Real policy sets need a few
// hundred; hitting the bound makes the answer "maybe" instead of wrong.
const solverBudget = 200000

type solver struct {
	budget    int
	exhausted bool
}

func newSolver() *solver { return &solver{budget: solverBudget} }

// satisfiable reports whether some pair of label sets satisfies every
// clause. When the budget runs out it answers true and records that, so
// callers err towards "traffic may flow".
func (s *solver) satisfiable(clauses []clause) bool {
	cs := append([]clause(nil), clauses...)
	// Short clauses first: unit clauses prune everything after them.
	sort.SliceStable(cs, func(i, j int) bool { return len(cs[i]) < len(cs[j]) })
	return s.search(nil, cs)
}

// state is the accumulated constraints as a stack of bindings; the latest
// binding of a (side, key) is its current constraint. A stack instead of
// maps makes each search step allocation-free: the depth-first search
// truncates back to the parent's length, and siblings reuse the space.
type state []lit

func (st state) lookup(sd side, key string) valueSet {
	for i := len(st) - 1; i >= 0; i-- {
		if st[i].side == sd && st[i].key == key {
			return st[i].set
		}
	}
	return valueSet{absent: true, cofinite: true}
}

func (st state) with(t term) (state, bool) {
	next := st
	for _, l := range t {
		cur := next.lookup(l.side, l.key).intersect(l.set)
		if cur.empty() {
			return st, false
		}
		next = append(next, lit{side: l.side, key: l.key, set: cur})
	}
	return next, true
}

func (s *solver) search(st state, clauses []clause) bool {
	if s.budget <= 0 {
		s.exhausted = true
		return true
	}
	s.budget--
	if len(clauses) == 0 {
		return true
	}
	for _, t := range clauses[0] {
		if next, ok := st.with(t); ok && s.search(next, clauses[1:]) {
			return true
		}
	}
	return false
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	n := 1
	for i := 1; i < len(out); i++ {
		if out[i] != out[n-1] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

func intersectSorted(a, b []string) []string {
	var out []string
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func subtractSorted(a, b []string) []string {
	var out []string
	j := 0
	for _, v := range a {
		for j < len(b) && b[j] < v {
			j++
		}
		if j < len(b) && b[j] == v {
			continue
		}
		out = append(out, v)
	}
	return out
}
