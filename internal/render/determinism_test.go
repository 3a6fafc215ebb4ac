package render_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// TestComputeIsDeterministic feeds the same namespaces and profiles in many
// orders: the controller lists them from a cache whose order is arbitrary,
// and a different plan for the same cluster would be a spurious rewrite.
func TestComputeIsDeterministic(t *testing.T) {
	var namespaces []render.Namespace
	envs := []string{"dev", "test", "qa", "prod", "staging"}
	for i := range 60 {
		labels := []string{"env=" + envs[i%len(envs)]}
		if i%3 == 0 {
			labels = append(labels, "team=t")
		}
		if i%7 == 0 {
			labels = append(labels, "shared=true")
		}
		if i%11 == 0 {
			labels = append(labels, render.DefaultTierLabelKey+"=test")
		}
		n := ns(fmt.Sprintf("ns-%02d", i), labels...)
		if i%13 == 0 {
			n = terminating(n)
		}
		namespaces = append(namespaces, n)
	}
	namespaces = append(namespaces, ns("sandbox", "env=qa", "team=a"), ns("ingress", "env=dev"),
		ns("kube-system", "env=dev"), ns("legacy-app", "env=dev"), ns("tierguard-system", "env=prod"))
	others := []segv1.SegmentationProfile{
		otherProfile(t, "older", -time.Hour, ""),
		otherProfile(t, "younger", time.Hour, ""),
		otherProfile(t, "alpha", 0, "alpha.example.com/tier"),
		deleting(otherProfile(t, "gone", -2*time.Hour, "gone.example.com/tier")),
	}
	// Only the older profile claims env=dev; it would otherwise hide the
	// ordering of every other conflict kind behind ClaimedByProfile.
	others[0].Spec.Tiers[0].Namespaces.Selector.MatchLabels = map[string]segv1.LabelValue{"env": "staging"}
	profile := createdAt(profileYAML(t, baseProfile), 0)

	compute := func(nss []render.Namespace, ps []segv1.SegmentationProfile) *render.Plan {
		t.Helper()
		plan, err := render.Compute(render.Input{Profile: profile, OtherProfiles: ps, Namespaces: nss, OperatorNamespace: "tierguard-system"})
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	want := compute(namespaces, others)
	if len(want.Governed) == 0 || len(want.Conflicts) < 3 || len(want.Skipped) < 5 {
		t.Fatalf("the input exercises too little: %d governed, %d conflicts, %d skipped",
			len(want.Governed), len(want.Conflicts), len(want.Skipped))
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		nss, ps := slices.Clone(namespaces), slices.Clone(others)
		rng.Shuffle(len(nss), func(i, j int) { nss[i], nss[j] = nss[j], nss[i] })
		rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		if diff := cmp.Diff(want, compute(nss, ps), cmpopts.IgnoreUnexported(render.Plan{})); diff != "" {
			t.Fatalf("round %d: plan depends on input order (-first +shuffled):\n%s", round, diff)
		}
	}
}
