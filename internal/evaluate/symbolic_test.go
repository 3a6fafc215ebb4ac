package evaluate

import (
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSolverSelectorCoverage(t *testing.T) {
	in := metav1.LabelSelectorOpIn
	notIn := metav1.LabelSelectorOpNotIn
	exists := metav1.LabelSelectorOpExists
	dne := metav1.LabelSelectorOpDoesNotExist
	cases := []struct {
		name string
		// want reports whether some label set escapes every selector.
		selectors []*metav1.LabelSelector
		want      bool
	}{
		{name: "no selectors", want: true},
		{name: "empty selector covers everything", selectors: []*metav1.LabelSelector{sel()}, want: false},
		{name: "single matchLabels leaves others", selectors: []*metav1.LabelSelector{sel("app", "web")}, want: true},
		{name: "Exists and DoesNotExist cover", selectors: []*metav1.LabelSelector{expr("app", exists), expr("app", dne)}, want: false},
		{name: "In and NotIn on same values cover", selectors: []*metav1.LabelSelector{expr("app", in, "a", "b"), expr("app", notIn, "a", "b")}, want: false},
		{name: "In and NotIn on different values leave a gap", selectors: []*metav1.LabelSelector{expr("app", in, "a"), expr("app", notIn, "a", "b")}, want: true},
		{name: "matchLabels and NotIn cover", selectors: []*metav1.LabelSelector{sel("app", "a"), expr("app", notIn, "a")}, want: false},
		{name: "two keys do not cover each other", selectors: []*metav1.LabelSelector{expr("app", exists), expr("tier", dne)}, want: true},
		{name: "Exists on one key and DoesNotExist on it in a conjunction",
			selectors: []*metav1.LabelSelector{expr("app", exists), {MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: dne}, {Key: "tier", Operator: exists}}}, expr("tier", dne)},
			want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cl []clause
			for _, s := range tc.selectors {
				c, err := compileSelector(s)
				if err != nil {
					t.Fatal(err)
				}
				cl = append(cl, c.notOnSide(dstSide))
			}
			s := newSolver()
			if got := s.satisfiable(cl); got != tc.want || s.exhausted {
				t.Errorf("satisfiable = %v (exhausted %v), want %v", got, s.exhausted, tc.want)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	pfx := netip.MustParsePrefix
	cases := []struct {
		name   string
		p      string
		except []string
		want   bool
	}{
		{name: "no excepts", p: "10.0.0.0/8", want: false},
		{name: "one except contains it", p: "10.1.0.0/16", except: []string{"10.0.0.0/8"}, want: true},
		{name: "two halves cover it", p: "10.0.0.0/8", except: []string{"10.0.0.0/9", "10.128.0.0/9"}, want: true},
		{name: "quarters leave a gap", p: "10.0.0.0/8", except: []string{"10.0.0.0/10", "10.64.0.0/10", "10.128.0.0/10"}, want: false},
		{name: "v6 halves cover it", p: "2001:db8::/32", except: []string{"2001:db8::/33", "2001:db8:8000::/33"}, want: true},
		{name: "disjoint except", p: "10.0.0.0/8", except: []string{"192.168.0.0/16"}, want: false},
		{name: "single address excepted", p: "10.0.0.1/32", except: []string{"10.0.0.1/32"}, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ex []netip.Prefix
			for _, s := range tc.except {
				ex = append(ex, pfx(s))
			}
			if got := covered(pfx(tc.p), ex); got != tc.want {
				t.Errorf("covered = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSolverBudgetErrsTowardsAllowed feeds a search that cannot finish
// within the budget and checks the answer is the conservative one.
func TestSolverBudgetErrsTowardsAllowed(t *testing.T) {
	var cl []clause
	// Forty two-way choices on distinct keys, then a contradiction on a
	// key none of them touches: unsatisfiable, but only after 2^40 nodes.
	// The contradiction's clauses repeat their term so that they are as
	// long as the choices and the short-clauses-first ordering keeps them
	// last.
	for i := 0; i < 40; i++ {
		k := string(rune('a'+i%26)) + string(rune('a'+i/26))
		cl = append(cl, clause{{{side: srcSide, key: k, set: valueSet{vals: []string{"x"}}}}, {{side: srcSide, key: k, set: valueSet{vals: []string{"y"}}}}})
	}
	z1 := term{{side: srcSide, key: "z", set: valueSet{vals: []string{"1"}}}}
	z2 := term{{side: srcSide, key: "z", set: valueSet{vals: []string{"2"}}}}
	cl = append(cl, clause{z1, z1}, clause{z2, z2})
	s := newSolver()
	if !s.satisfiable(cl) || !s.exhausted {
		t.Errorf("expected an exhausted, conservative true; got exhausted=%v", s.exhausted)
	}
}
