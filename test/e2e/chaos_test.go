package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/render"
)

// Chaos parameters: a few hundred tamperings over a minute across ~50
// namespaces.
const (
	chaosDuration      = time.Minute
	chaosNamespaces    = 16 // per tier
	chaosFieldManager  = "chaos-monkey"
	chaosMaxRepairTime = 10 * time.Second
)

// tampering is one change the chaos made, identified by the object's
// resourceVersion (or UID, for a delete) right after it.
type tampering struct {
	at   time.Time
	what string
	key  string // namespace name, or namespace/name of the policy
	rv   string
	uid  types.UID // of a deleted policy
}

var _ = Describe("Chaos", func() {
	It("repairs a few hundred random tamperings, then matches the plan with nothing half-applied", func(ctx SpecContext) {
		f := newFixture("chaos")
		var specs []nsSpec
		for _, tier := range []string{"dev", "test", "prod"} {
			for i := range chaosNamespaces {
				specs = append(specs, nsSpec{fmt.Sprintf("%s-%02d", tier, i), tier})
			}
		}
		specs = append(specs, nsSpec{"ingress", ""}, nsSpec{"other-1", "staging"}, nsSpec{"other-2", ""})
		f.createNamespaces(ctx, specs...)
		sleepToNextSecond() // see the drift attribution spec
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		plan, _, _, err := clusterPlan(ctx, f.id)
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Governed).To(HaveLen(3 * chaosNamespaces))

		namespaces := watchNamespaces(ctx, fixtureLabel+"="+f.id)
		policies := watchPolicies(ctx)
		repairsBefore := f.repairs(ctx)
		metricBefore := scrape(ctx, managers.mainManager()).Sum("tierguard_drift_repairs_total", map[string]string{"profile": f.id})

		seed := GinkgoRandomSeed()
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		By(fmt.Sprintf("tampering for %s (seed %d)", chaosDuration, seed))
		c := &chaos{f: f, plan: plan, rng: rng}
		began := time.Now()
		for time.Since(began) < chaosDuration {
			// Now and then a burst of changes to one namespace, as a script
			// would make, so that repairs overlap and changes supersede
			// each other.
			g := plan.Governed[rng.IntN(len(plan.Governed))]
			burst := 1
			if rng.IntN(4) == 0 {
				burst = 2 + rng.IntN(3)
			}
			for range burst {
				c.tamper(ctx, g)
			}
			time.Sleep(time.Duration(150+rng.IntN(200)) * time.Millisecond)
		}
		By(fmt.Sprintf("%d tamperings done; waiting for quiet", len(c.done)))
		Expect(len(c.done)).To(BeNumerically(">=", 200), "a few hundred tamperings")
		f.expectConverged(ctx, time.Minute)
		// The cluster is as planned; the watches must have delivered the
		// repairs that made it so.
		namespaces.waitCaughtUp(ctx)
		policies.waitCaughtUp(ctx)
		nsEvents, polEvents := namespaces.stop(), policies.stop()

		By("finding each tampering repaired or superseded")
		events := map[string][]objectEvent{}
		for _, e := range append(nsEvents, polEvents...) {
			events[e.key] = append(events[e.key], e)
		}
		var latencies []time.Duration
		var problems []string
		superseded := 0
		for i, t := range c.done {
			outcome, latency := c.fate(t, c.done[i+1:], events[t.key])
			switch outcome {
			case "repaired":
				latencies = append(latencies, latency)
				if latency > chaosMaxRepairTime {
					problems = append(problems, fmt.Sprintf("%s on %s at %s repaired only after %s", t.what, t.key, t.at.Format("15:04:05.000"), latency))
				}
			case "superseded":
				superseded++
			default:
				problems = append(problems, fmt.Sprintf("%s on %s at %s: %s", t.what, t.key, t.at.Format("15:04:05.000"), outcome))
			}
		}
		slices.Sort(latencies)
		AddReportEntry("Chaos", fmt.Sprintf("%d tamperings in %s: %d repaired (median %s, max %s), %d superseded",
			len(c.done), chaosDuration, len(latencies), percentile(latencies, 50), percentile(latencies, 100), superseded))
		Expect(problems).To(BeEmpty())

		By("counting the repairs in status and metrics alike")
		var repairs int64
		var metric float64
		// The metric counts a repair just before the status write records it.
		Eventually(func(ctx context.Context) float64 {
			repairs = f.repairs(ctx) - repairsBefore
			metric = scrape(ctx, managers.mainManager()).Sum("tierguard_drift_repairs_total", map[string]string{"profile": f.id}) - metricBefore
			return float64(repairs) - metric
		}).WithContext(ctx).WithTimeout(timeout).Should(BeZero(), "status.drift.repairs and tierguard_drift_repairs_total differ")
		Expect(repairs).To(BeNumerically(">", 0))
		Expect(repairs).To(BeNumerically("<=", len(c.done)), "never more repairs than tamperings")
		// A burst that strips every label Tierguard owns on a namespace
		// empties Tierguard's managedFields entry; the removal must still not
		// be blamed on the namespace's creator (see "Drift attribution").
		for _, rec := range f.profile(ctx).Status.Drift.Recent {
			Expect([]string{chaosFieldManager, ""}).To(ContainElement(rec.Manager), "drift record %+v names a manager that changed nothing", rec)
		}
	})
})

// chaos tampers with a fixture's enforced objects at random.
type chaos struct {
	f    *fixture
	plan *render.Plan
	rng  *rand.Rand
	done []tampering
}

// tamper makes one random change to namespace g or its policy through the
// API as chaosFieldManager and records it; a change that finds the policy
// momentarily gone (deleted and not yet repaired) is not made.
func (c *chaos) tamper(ctx context.Context, g render.GovernedNamespace) {
	GinkgoHelper()
	namespaces := clientset.CoreV1().Namespaces()
	policies := clientset.NetworkingV1().NetworkPolicies(g.Name)
	opts := metav1.PatchOptions{FieldManager: chaosFieldManager}
	labelPatch := func(key string, value any) []byte {
		return fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, key, jsonValue(value))
	}
	t := tampering{key: g.Name}
	var obj metav1.Object
	var err error
	switch c.rng.IntN(8) {
	case 0:
		t.what = "relabel tier"
		other := []string{"dev", "test", "prod"}[c.rng.IntN(3)]
		if other == g.Tier {
			other = "staging"
		}
		obj, err = namespaces.Patch(ctx, g.Name, types.MergePatchType, labelPatch(c.f.key, other), opts)
	case 1:
		t.what = "strip tier label"
		obj, err = namespaces.Patch(ctx, g.Name, types.MergePatchType, labelPatch(c.f.key, nil), opts)
	case 2:
		t.what = "strip profile label"
		obj, err = namespaces.Patch(ctx, g.Name, types.MergePatchType, labelPatch(render.ProfileLabel, nil), opts)
	case 3:
		// Only dev and prod carry the label: stripping an absent label would
		// change nothing, so nothing could be repaired.
		t.what = "strip Pod Security label"
		key := psaLabel
		if _, ok := g.Labels[psaLabel]; !ok {
			t.what, key = "strip profile label", render.ProfileLabel
		}
		obj, err = namespaces.Patch(ctx, g.Name, types.MergePatchType, labelPatch(key, nil), opts)
	case 4:
		t.what, t.key = "allow-all ingress rule", g.Name+"/"+render.PolicyName
		obj, err = policies.Patch(ctx, render.PolicyName, types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/ingress/-","value":{}}]`), opts)
	case 5:
		t.what, t.key = "narrow podSelector", g.Name+"/"+render.PolicyName
		obj, err = policies.Patch(ctx, render.PolicyName, types.MergePatchType, []byte(`{"spec":{"podSelector":{"matchLabels":{"chaos":"yes"}}}}`), opts)
	case 6:
		t.what, t.key = "strip policy labels", g.Name+"/"+render.PolicyName
		obj, err = policies.Patch(ctx, render.PolicyName, types.MergePatchType,
			fmt.Appendf(nil, `{"metadata":{"labels":{%q:null,%q:null}}}`, render.ManagedByLabel, render.ProfileLabel), opts)
	case 7:
		t.what, t.key = "delete policy", g.Name+"/"+render.PolicyName
		var pol *networkingv1.NetworkPolicy
		if pol, err = policies.Get(ctx, render.PolicyName, metav1.GetOptions{}); err == nil {
			t.uid = pol.UID
			err = policies.Delete(ctx, render.PolicyName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pol.UID}})
		}
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return // the policy is being repaired; try something else next
	}
	Expect(err).NotTo(HaveOccurred(), t.what)
	t.at = time.Now()
	if obj != nil {
		t.rv = obj.GetResourceVersion()
	}
	c.done = append(c.done, t)
}

// fate tells what became of tampering t given the later tamperings and the
// watch events of its object: "repaired" (with the time the object matched
// the plan again), "superseded" (another tampering of the object came
// first), or a description of what went wrong.
func (c *chaos) fate(t tampering, later []tampering, events []objectEvent) (string, time.Duration) {
	start := slices.IndexFunc(events, func(e objectEvent) bool {
		if t.uid != "" {
			return e.typ == watch.Deleted && e.uid == t.uid
		}
		return e.rv == t.rv
	})
	if start < 0 {
		return "its change never appeared in the watch", 0
	}
	next := slices.IndexFunc(later, func(o tampering) bool { return o.key == t.key })
	for _, e := range events[start:] {
		if next >= 0 && (e.rv == later[next].rv || (later[next].uid != "" && e.uid == later[next].uid && e.typ == watch.Deleted)) {
			return "superseded", 0
		}
		if c.matchesPlan(e) {
			return "repaired", e.at.Sub(t.at)
		}
	}
	if next >= 0 {
		return "superseded", 0
	}
	return "never repaired", 0
}

// matchesPlan reports whether the object in event e is as planned.
func (c *chaos) matchesPlan(e objectEvent) bool {
	if e.policy != nil {
		g := c.plan.Lookup(e.policy.Namespace)
		return e.typ != watch.Deleted && g != nil && drift.PolicyMatches(e.policy, g.Policy)
	}
	g := c.plan.Lookup(e.key)
	return g != nil && drift.LabelsMatch(e.labels, g.Labels)
}

// jsonValue renders a label value for a merge patch: null removes it.
func jsonValue(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", v)
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted) - 1) * p / 100
	return sorted[i].Round(time.Millisecond)
}
