package render_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// epoch is the creation time of test profiles; offsets from it order them.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// profileYAML parses a profile written as YAML, strictly, so that a typo in a
// test fixture fails loudly instead of silently dropping a field.
func profileYAML(t testing.TB, doc string) *segv1.SegmentationProfile {
	t.Helper()
	var p segv1.SegmentationProfile
	if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
		t.Fatalf("parsing profile: %v\n%s", err, doc)
	}
	return &p
}

// createdAt sets a profile's creation time to epoch plus offset; profiles
// are ordered by it for cross-profile conflicts.
func createdAt(p *segv1.SegmentationProfile, offset time.Duration) *segv1.SegmentationProfile {
	p.CreationTimestamp = metav1.NewTime(epoch.Add(offset))
	return p
}

// ns builds a namespace from "key=value" labels, with the label the API
// server always sets, so selectors see what they would in a cluster.
func ns(name string, kv ...string) render.Namespace {
	labels := map[string]string{render.MetadataNameLabel: name}
	for _, pair := range kv {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			panic("label without '=': " + pair)
		}
		labels[k] = v
	}
	return render.Namespace{Name: name, Labels: labels}
}

// terminating marks a namespace as being deleted.
func terminating(n render.Namespace) render.Namespace {
	n.Terminating = true
	return n
}

// governedTiers maps each governed namespace of a plan to its tier.
func governedTiers(p *render.Plan) map[string]string {
	out := map[string]string{}
	for _, g := range p.Governed {
		out[g.Name] = g.Tier
	}
	return out
}

// conflictKeys lists a plan's conflicts as "namespace/Reason"; a profile-wide
// conflict has an empty namespace.
func conflictKeys(p *render.Plan) []string {
	var out []string
	for _, c := range p.Conflicts {
		out = append(out, c.Namespace+"/"+string(c.Reason))
	}
	return out
}

// skippedReasons maps each skipped namespace to its reason.
func skippedReasons(p *render.Plan) map[string]string {
	out := map[string]string{}
	for _, s := range p.Skipped {
		out[s.Namespace] = s.Reason
	}
	return out
}

// sortedKeys returns a map's keys in order, for stable failure messages.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
