package leaks

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// sourceClasses groups the namespaces that neither the policies nor the
// intent can tell apart as the source of a connection, so that a hole from
// a tier's hundreds of namespaces into one namespace is analyzed once, not
// once per namespace.
//
// Policies see a source namespace through its labels (namespace
// selectors), its name (a podSelector peer means the policy's own
// namespace, which a check never asks about as the source and destination
// at once), and its own policies (the egress side); the intent, through
// its tier and whether it is shared. So two namespaces are alike when their
// labels are the same but for kubernetes.io/metadata.name, no selector
// names either of them by that label, their policies are Tierguard's
// planned one alone, or none, and they have the same tier, governed or
// retained, and are both shared or both not. Every other namespace is a
// class of its own.
type sourceClasses struct {
	plan   *render.Plan
	intent *intent.Intent
	labels map[string]map[string]string
	// named are the names some namespace selector mentions.
	named    map[string]bool
	policies map[string][]networkingv1.NetworkPolicy
	byKey    map[string]*sourceClass
	of       map[string]*sourceClass
}

// sourceClass is a class of namespaces that are alike as sources.
type sourceClass struct {
	id int
	// tier is the tier the plan governs the class's namespaces in; a leak
	// then names the tier, not each namespace.
	tier string
}

// sourceGroup is the namespaces of one class among some sources.
type sourceGroup struct {
	class   *sourceClass
	members []string
}

func newSourceClasses(plan *render.Plan, in *intent.Intent, namespaces []render.Namespace, byNS map[string][]networkingv1.NetworkPolicy,
	clusterPolicies []npav1beta1.ClusterNetworkPolicy) *sourceClasses {
	c := &sourceClasses{plan: plan, intent: in, labels: make(map[string]map[string]string, len(namespaces)), named: map[string]bool{},
		policies: byNS, byKey: map[string]*sourceClass{}, of: map[string]*sourceClass{}}
	for _, ns := range namespaces {
		c.labels[ns.Name] = ns.Labels
	}
	for _, ps := range byNS {
		for i := range ps {
			for _, r := range ps[i].Spec.Ingress {
				for _, pr := range r.From {
					c.mention(pr.NamespaceSelector)
				}
			}
			for _, r := range ps[i].Spec.Egress {
				for _, pr := range r.To {
					c.mention(pr.NamespaceSelector)
				}
			}
		}
	}
	for i := range clusterPolicies {
		spec := &clusterPolicies[i].Spec
		c.mentionPeer(spec.Subject.Namespaces, spec.Subject.Pods)
		for _, r := range spec.Ingress {
			for _, pr := range r.From {
				c.mentionPeer(pr.Namespaces, pr.Pods)
			}
		}
		for _, r := range spec.Egress {
			for _, pr := range r.To {
				c.mentionPeer(pr.Namespaces, pr.Pods)
			}
		}
	}
	return c
}

func (c *sourceClasses) mentionPeer(namespaces *metav1.LabelSelector, pods *npav1beta1.NamespacedPod) {
	c.mention(namespaces)
	if pods != nil {
		c.mention(&pods.NamespaceSelector)
	}
}

// mention records the names a selector's kubernetes.io/metadata.name
// requirements list.
func (c *sourceClasses) mention(sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	if v, ok := sel.MatchLabels[render.MetadataNameLabel]; ok {
		c.named[v] = true
	}
	for _, r := range sel.MatchExpressions {
		if r.Key == render.MetadataNameLabel {
			for _, v := range r.Values {
				c.named[v] = true
			}
		}
	}
}

// group groups namespaces by class, in the order each class first
// appears.
func (c *sourceClasses) group(namespaces []string) []sourceGroup {
	var out []sourceGroup
	index := map[*sourceClass]int{}
	for _, ns := range namespaces {
		class := c.class(ns)
		i, ok := index[class]
		if !ok {
			i = len(out)
			index[class] = i
			out = append(out, sourceGroup{class: class})
		}
		out[i].members = append(out[i].members, ns)
	}
	return out
}

func (c *sourceClasses) class(ns string) *sourceClass {
	if class, ok := c.of[ns]; ok {
		return class
	}
	key := c.key(ns)
	class, ok := c.byKey[key]
	if !ok {
		class = &sourceClass{id: len(c.byKey)}
		if g := c.plan.Lookup(ns); g != nil {
			class.tier = g.Tier
		}
		c.byKey[key] = class
	}
	c.of[ns] = class
	return class
}

// key is what the policies and the intent see of a namespace as a source;
// a namespace of its own starts with a zero byte, which no label holds.
func (c *sourceClasses) key(ns string) string {
	own := "\x00" + ns
	if c.named[ns] {
		return own
	}
	var b strings.Builder
	switch ps := c.policies[ns]; {
	case len(ps) == 0:
	case len(ps) == 1 && isManaged(&ps[0]):
		g := c.plan.Lookup(ns)
		if g == nil || !equality.Semantic.DeepEqual(ps[0].Spec, g.Policy.Spec) {
			return own
		}
		b.WriteString(g.Hash)
	default:
		return own
	}
	governed := ""
	if g := c.plan.Lookup(ns); g != nil {
		governed = g.Tier
	}
	fmt.Fprintf(&b, "\x01%s\x01%s\x01%t", governed, c.intent.Tier(ns), c.intent.Shared(ns))
	labels := c.labels[ns]
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != render.MetadataNameLabel {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("\x01" + k + "=" + labels[k])
	}
	return b.String()
}
