package differential

import (
	"math/rand/v2"
	"testing"
)

// TestHarnessDetectsMutations guards against a vacuous comparison (an
// engine wired so that both sides always agree): each mutation of the
// cluster internal/evaluate is given, the reference keeping the original,
// must produce an unexplained disagreement within a few hundred clusters.
func TestHarnessDetectsMutations(t *testing.T) {
	for _, m := range []struct {
		name   string
		mutate func(*cluster)
	}{
		{"endPort ignored", func(c *cluster) {
			for i := range c.Policies {
				for j := range c.Policies[i].Spec.Ingress {
					for k := range c.Policies[i].Spec.Ingress[j].Ports {
						c.Policies[i].Spec.Ingress[j].Ports[k].EndPort = nil
					}
				}
			}
		}},
		{"port range one short", func(c *cluster) {
			for i := range c.ClusterPolicies {
				for j := range c.ClusterPolicies[i].Spec.Egress {
					for _, p := range c.ClusterPolicies[i].Spec.Egress[j].Protocols {
						if d := destinationPort(p); d != nil && d.Range != nil && d.Range.End-1 > d.Range.Start {
							d.Range.End--
						}
					}
				}
			}
		}},
		{"first two ingress rules swapped", func(c *cluster) {
			for i := range c.ClusterPolicies {
				if r := c.ClusterPolicies[i].Spec.Ingress; len(r) > 1 {
					r[0], r[1] = r[1], r[0]
				}
			}
		}},
		{"named ports without a protocol read as UDP", func(c *cluster) {
			for i := range c.Pods {
				for j := range c.Pods[i].Ports {
					if c.Pods[i].Ports[j].Protocol == "" {
						c.Pods[i].Ports[j].Protocol = "UDP"
					}
				}
			}
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			for i := range 300 {
				seed := clusterSeed(1, i)
				c := generateCluster(seed)
				ref, err := newReference(c)
				if err != nil {
					t.Fatal(err)
				}
				mutated := generateCluster(seed)
				m.mutate(mutated)
				tg, err := tierguardOf(mutated)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range queries(c, rand.New(rand.NewPCG(seed, 1)), *portsFlag) {
					tv, _, err := tg.decide(q)
					if err != nil {
						t.Fatal(err)
					}
					rv, _, err := ref.decide(q)
					if err != nil {
						t.Fatal(err)
					}
					if tv != rv && explain(c, q, tv, rv) == "" {
						return
					}
				}
			}
			t.Error("no disagreement in 300 clusters: the comparison cannot see this mutation")
		})
	}
}
