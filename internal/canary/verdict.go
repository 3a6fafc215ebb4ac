package canary

import (
	"fmt"
	"strings"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Observation is a path as a round found it.
type Observation struct {
	Path
	// Open says whether the probe got through.
	Open bool
	// Node is the node the client pod ran on.
	Node string
}

// Verdict judges a round: NotEnforced when a forbidden path got through
// (whatever else happened: traffic the profile forbids flowed), else
// Inconclusive when an allowed path failed (the round then proves nothing:
// a blocked forbidden path may be a broken network, not a policy), else
// Enforced. The message names the first path that decided it, and the node.
func Verdict(obs []Observation, what string) (result, message string) {
	var forbidden, allowed int
	for _, o := range obs {
		if o.Allowed {
			allowed++
		} else {
			forbidden++
		}
	}
	for _, o := range obs {
		if !o.Allowed && o.Open {
			return segv1.CanaryNotEnforced, fmt.Sprintf(
				"your network plugin does not enforce %s: the canary got through %s, which the profile forbids, from node %s",
				what, o.Path, nodeName(o.Node))
		}
	}
	for _, o := range obs {
		if o.Allowed && !o.Open {
			return segv1.CanaryInconclusive, fmt.Sprintf(
				"the canary could not reach %s, which the profile allows, from node %s, so a blocked forbidden path proves nothing "+
					"(a policy of someone else's in a canary namespace, a pod not ready, or a broken pod network)", o.Path, nodeName(o.Node))
		}
	}
	if forbidden == 0 || allowed == 0 {
		return segv1.CanaryInconclusive, "the round tried no forbidden or no allowed path"
	}
	return segv1.CanaryEnforced, fmt.Sprintf("%d forbidden paths blocked and %d allowed paths open, from node %s",
		forbidden, allowed, strings.Join(nodes(obs), ", "))
}

func nodeName(n string) string {
	if n == "" {
		return "(unknown)"
	}
	return n
}

func nodes(obs []Observation) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range obs {
		if !seen[o.Node] {
			seen[o.Node] = true
			out = append(out, nodeName(o.Node))
		}
	}
	return out
}
