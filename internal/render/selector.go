package render

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// MetaSelector converts a profile's selector into a metav1.LabelSelector.
func MetaSelector(s *segv1.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{}
	if len(s.MatchLabels) > 0 {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, r := range s.MatchExpressions {
		req := metav1.LabelSelectorRequirement{Key: string(r.Key), Operator: metav1.LabelSelectorOperator(r.Operator)}
		for _, v := range r.Values {
			req.Values = append(req.Values, string(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, req)
	}
	return out
}

// namespaceMatcher tells whether a namespace belongs to a NamespaceSet.
type namespaceMatcher struct {
	names    map[string]bool
	selector labels.Selector // nil when the set has no selector
}

func newNamespaceMatcher(set *segv1.NamespaceSet) (namespaceMatcher, error) {
	m := namespaceMatcher{names: map[string]bool{}}
	if set == nil {
		return m, nil
	}
	for _, n := range set.Names {
		m.names[string(n)] = true
	}
	if set.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(MetaSelector(set.Selector))
		if err != nil {
			return m, fmt.Errorf("invalid selector: %w", err)
		}
		m.selector = sel
	}
	return m, nil
}

func (m namespaceMatcher) matches(ns Namespace) bool {
	if m.names[ns.Name] {
		return true
	}
	return m.selector != nil && m.selector.Matches(labels.Set(ns.Labels))
}
