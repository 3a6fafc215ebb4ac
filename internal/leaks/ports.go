package leaks

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// portIntent is the set of ports the profile means to allow: all, or ranges.
type portIntent struct {
	all    bool
	ranges []evaluate.PortRange
}

func (p portIntent) expand() []evaluate.PortRange {
	if !p.all {
		return p.ranges
	}
	out := make([]evaluate.PortRange, 0, len(protocols))
	for _, proto := range protocols {
		out = append(out, evaluate.PortRange{Protocol: proto, From: 1, To: 65535})
	}
	return out
}

func (p portIntent) union(o portIntent) portIntent {
	if p.all || o.all {
		return portIntent{all: true}
	}
	return portIntent{ranges: normalize(append(slices.Clone(p.ranges), o.ranges...))}
}

func (p portIntent) intersect(o portIntent) portIntent {
	switch {
	case p.all:
		return o
	case o.all:
		return p
	}
	var out []evaluate.PortRange
	for _, a := range p.ranges {
		for _, b := range o.ranges {
			if a.Protocol == b.Protocol && a.From <= b.To && b.From <= a.To {
				out = append(out, evaluate.PortRange{Protocol: a.Protocol, From: max(a.From, b.From), To: min(a.To, b.To)})
			}
		}
	}
	return portIntent{ranges: normalize(out)}
}

// subtract returns the parts of actual that the intent does not cover.
func (p portIntent) subtract(actual []evaluate.PortRange) []evaluate.PortRange {
	if p.all {
		return nil
	}
	var out []evaluate.PortRange
	for _, a := range actual {
		rest := []evaluate.PortRange{a}
		for _, b := range p.ranges {
			var next []evaluate.PortRange
			for _, r := range rest {
				if r.Protocol != b.Protocol || b.To < r.From || r.To < b.From {
					next = append(next, r)
					continue
				}
				if r.From < b.From {
					next = append(next, evaluate.PortRange{Protocol: r.Protocol, From: r.From, To: b.From - 1})
				}
				if b.To < r.To {
					next = append(next, evaluate.PortRange{Protocol: r.Protocol, From: b.To + 1, To: r.To})
				}
			}
			rest = next
		}
		out = append(out, rest...)
	}
	return normalize(out)
}

// flowIntent converts a flow's ports. A named port cannot be resolved
// without pods, so it counts as every port of its protocol: a hole on
// such a flow's protocol may go unreported, never a false one.
func flowIntent(ports []segv1.NetworkPolicyPort) portIntent {
	if len(ports) == 0 {
		return portIntent{all: true}
	}
	var out []evaluate.PortRange
	for _, p := range ports {
		proto := corev1.Protocol(p.Protocol)
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		r := evaluate.PortRange{Protocol: proto, From: 1, To: 65535}
		if p.Port != nil && p.Port.Type == intstr.Int {
			r.From, r.To = p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				r.To = *p.EndPort
			}
		}
		out = append(out, r)
	}
	return portIntent{ranges: normalize(out)}
}

// normalize sorts ranges by protocol and start and merges overlaps.
func normalize(rs []evaluate.PortRange) []evaluate.PortRange {
	slices.SortFunc(rs, func(a, b evaluate.PortRange) int {
		if a.Protocol != b.Protocol {
			return slices.Index(protocols, a.Protocol) - slices.Index(protocols, b.Protocol)
		}
		return int(a.From - b.From)
	})
	var out []evaluate.PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Protocol == r.Protocol && out[n-1].To+1 >= r.From {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

func rangesString(rs []evaluate.PortRange) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

func metaSelector(s *segv1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(render.MetaSelector(s))
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }
