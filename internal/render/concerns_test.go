package render_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// olderProfile governs env=legacy and env=prod,team=a namespaces, so it
// claims some namespaces the base profile matches.
const olderProfile = `
metadata: {name: older, uid: older-uid}
spec:
  tierLabelKey: older.example/tier
  tiers:
  - name: old
    namespaces:
      selector: {matchLabels: {env: legacy}}
  - name: claimed
    namespaces:
      selector: {matchLabels: {env: prod, team: a}}
`

// TestConcernsCoversEveryPlanChange changes one namespace at a time at
// random and checks that whenever the profile's plan changes, the old or the
// new state of the namespace concerns the profile: routing namespace events
// by Concerns never misses a pass that matters.
func TestConcernsCoversEveryPlanChange(t *testing.T) {
	profile := createdAt(profileYAML(t, baseProfile), time.Hour)
	older := createdAt(profileYAML(t, olderProfile), 0)
	values := map[string][]string{
		"env":                        {"", "dev", "test", "qa", "prod", "legacy"},
		"team":                       {"", "a", "b"},
		"shared":                     {"", "true"},
		"region":                     {"", "moon"},
		"legacy":                     {"", "yes"},
		render.ProfileLabel:          {"", "company", "older"},
		render.TierLabelKey(profile): {"", "dev", "prod"},
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	})
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"sandbox", "ingress", "legacy-app", "a", "b", "c", "d", "e"}
	random := func(name string) render.Namespace {
		var kv []string
		for _, k := range keys {
			if v := values[k][rng.IntN(len(values[k]))]; v != "" {
				kv = append(kv, k+"="+v)
			}
		}
		n := ns(name, kv...)
		n.Terminating = rng.IntN(10) == 0
		return n
	}
	namespaces := make([]render.Namespace, len(names))
	for i, name := range names {
		namespaces[i] = random(name)
	}
	plan := func() *render.Plan {
		p, err := render.Compute(render.Input{Profile: profile, Namespaces: slices.Clone(namespaces),
			OtherProfiles: []segv1.SegmentationProfile{*older}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := plan()
	changes, mattered := 0, 0
	for range 5000 {
		i := rng.IntN(len(namespaces))
		old := namespaces[i]
		namespaces[i] = random(old.Name)
		after := plan()
		if reflect.DeepEqual(before, after) {
			continue
		}
		changes++
		if render.Concerns(profile, old.Name, old.Labels) || render.Concerns(profile, old.Name, namespaces[i].Labels) {
			mattered++
		} else {
			t.Fatalf("plan changed but neither state concerns the profile:\nold %v\nnew %v\nbefore %s\nafter %s",
				old, namespaces[i], fmt.Sprint(before), fmt.Sprint(after))
		}
		before = after
	}
	if changes < 100 {
		t.Fatalf("only %d changes moved the plan: the test does not exercise routing", changes)
	}
	// And a namespace no tier, shared set or label ties to the profile
	// concerns it not.
	if render.Concerns(profile, "unrelated", map[string]string{"env": "other", render.ProfileLabel: "older"}) {
		t.Fatal("an unrelated namespace concerns the profile")
	}
}

func TestWithGovernedKeepsThePlan(t *testing.T) {
	profile := createdAt(profileYAML(t, baseProfile), 0)
	full, err := render.Compute(render.Input{Profile: profile, Namespaces: []render.Namespace{
		ns("a", "env=dev"), ns("c", "env=dev"), ns("e", "env=dev")}})
	if err != nil {
		t.Fatal(err)
	}
	without, err := render.Compute(render.Input{Profile: profile, Namespaces: []render.Namespace{ns("c", "env=dev")}})
	if err != nil {
		t.Fatal(err)
	}
	joined := without.WithGoverned(*full.Lookup("e"), *full.Lookup("a"))
	if !reflect.DeepEqual(joined.Governed, full.Governed) {
		t.Fatalf("governed %v, want %v", joined.Governed, full.Governed)
	}
	for _, name := range []string{"a", "c", "e"} {
		if g := joined.Lookup(name); g == nil || g.Name != name {
			t.Fatalf("Lookup(%s) = %v", name, g)
		}
	}
	if len(without.Governed) != 1 || without.Lookup("a") != nil {
		t.Fatal("WithGoverned changed the plan it copied")
	}
}
