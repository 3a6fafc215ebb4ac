package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// AppPolicyComparison is one scale run twice on fresh planes, without and
// with applications' own NetworkPolicies in the governed namespaces.
type AppPolicyComparison struct {
	// Namespaces is N, the governed namespaces.
	Namespaces int `json:"namespaces"`
	// Without and With are the two runs.
	Without AppPolicyRun `json:"without"`
	With    AppPolicyRun `json:"with"`
	// ScenarioSeconds is what both runs took, planes included.
	ScenarioSeconds float64 `json:"scenarioSeconds"`
}

// AppPolicyRun is a cold start, then a forced pass.
type AppPolicyRun struct {
	// AppPolicies are the application NetworkPolicies created before the
	// manager started.
	AppPolicies int `json:"appPolicies"`
	// Cold is the cold start (to Ready and every namespace enforced).
	Cold ColdStart `json:"cold"`
	// IsolationSeconds is from the manager's start until the watch shows
	// IsolationVerified True or False for the profile's generation: the
	// leak analysis over Tierguard's and the applications' policies.
	IsolationSeconds float64 `json:"isolationSeconds"`
	// IsolationReason and LeakCount are what it found.
	IsolationReason string `json:"isolationReason"`
	LeakCount       int    `json:"leakCount"`
	// ForcedPassSeconds is from the profile's annotation until the
	// manager's reconcile count moved (scraped every 10 ms).
	ForcedPassSeconds float64 `json:"forcedPassSeconds"`
	// ForcedPasses are the reconciles of the forced pass, with their mean
	// duration; ForcedWrites the manager's writes then (0 state expected).
	ForcedPasses Passes `json:"forcedPasses"`
	ForcedWrites Writes `json:"forcedWrites"`
	// Reconciles is the manager's reconcile duration histogram over the
	// whole run (cold start and forced pass).
	Reconciles Histogram `json:"reconciles"`
	// Memory is the manager's memory at the end.
	Memory Memory `json:"memory"`
	// ForcedPassCPUTopCum is `go tool pprof -top -cum` of the manager's
	// CPU over the forced pass (forcedPassProfile seconds from just before
	// the annotation).
	ForcedPassCPUTopCum []string `json:"forcedPassCpuTopCum,omitempty"`
}

// forcedPassProfile is the length of the forced pass's CPU profile: the
// pass and its settling.
const forcedPassProfile = 4

// Histogram is a Prometheus histogram: cumulative counts by upper bound.
type Histogram struct {
	// Count and SumSeconds are its count and sum.
	Count      float64 `json:"count"`
	SumSeconds float64 `json:"sumSeconds"`
	// Buckets are the non-empty cumulative buckets, by upper bound (s).
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one cumulative bucket.
type Bucket struct {
	LE    float64 `json:"le"`
	Count float64 `json:"count"`
}

// quantileBound returns the upper bound of the bucket holding quantile q.
func (h Histogram) quantileBound(q float64) float64 {
	for _, b := range h.Buckets {
		if b.Count >= q*h.Count {
			return b.LE
		}
	}
	return 0
}

// compareAppPolicies runs n without, then with, application policies.
func (b *bench) compareAppPolicies(ctx context.Context, n int) (*AppPolicyComparison, error) {
	began := time.Now()
	out := &AppPolicyComparison{Namespaces: n}
	for _, with := range []bool{false, true} {
		b.logf("N=%d: cold start and forced pass %s application policies", n, map[bool]string{false: "without", true: "with"}[with])
		r, err := b.runAppPolicies(ctx, n, with)
		if err != nil {
			return nil, err
		}
		if with {
			out.With = r
		} else {
			out.Without = r
		}
	}
	out.ScenarioSeconds = seconds(time.Since(began))
	return out, nil
}

// runAppPolicies measures one run on a fresh plane.
func (b *bench) runAppPolicies(ctx context.Context, n int, with bool) (AppPolicyRun, error) {
	l := newLayout(n, b.opts.unrelated)
	dir := filepath.Join(b.workDir, fmt.Sprintf("apppolicies-%d-%v", n, with))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return AppPolicyRun{}, err
	}
	r := &managedRun{b: b, l: l, p: p, user: harness.ManagerUser}
	out, err := r.appPolicies(ctx, with)
	return out, r.end(err)
}

func (r *managedRun) appPolicies(ctx context.Context, with bool) (AppPolicyRun, error) {
	var out AppPolicyRun
	b := r.b
	b.noteVersion(r.p)
	if err := r.l.create(ctx, r.p.admin); err != nil {
		return out, err
	}
	if with {
		var err error
		if out.AppPolicies, err = createAppPolicies(ctx, r.p.admin, r.l.Governed); err != nil {
			return out, err
		}
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := r.connect(ctx, octx)
	if err != nil {
		return out, err
	}
	name := b.profile.Name
	isolation := r.obs.await(profileKey(name), func() bool { return isolationDecided(r.obs.profile(name)) })
	if r.m, r.plan, out.Cold, err = r.coldStart(ctx); err != nil {
		return out, fmt.Errorf("cold start: %w", err)
	}
	at, err := r.obs.awaitAll(ctx, []<-chan time.Time{isolation}, b.opts.timeout, func(int) string { return "IsolationVerified not decided" })
	if err != nil {
		return out, err
	}
	out.IsolationSeconds = seconds(at.Sub(r.m.Started))
	if p := r.obs.profile(name); p != nil {
		if c := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified); c != nil {
			out.IsolationReason = c.Reason
		}
		out.LeakCount = int(p.Status.Isolation.LeakCount)
	}
	profile := filepath.Join(b.profileDir, fmt.Sprintf("cpu-forced-pass-%d-%v.pb.gz", len(r.l.Governed), with))
	cpuDone := startCPUProfile(ctx, r.m, forcedPassProfile, profile)
	// The profile starts when the manager receives the request.
	if err := pause(ctx, 300*time.Millisecond); err != nil {
		return out, err
	}
	if out.ForcedPassSeconds, out.ForcedPasses, out.ForcedWrites, err = r.annotatedPass(ctx); err != nil {
		_ = cpuDone()
		return out, fmt.Errorf("forced pass: %w", err)
	}
	if err := cpuDone(); err != nil {
		return out, err
	}
	if out.ForcedPassCPUTopCum, err = pprofTop(ctx, profile, "-cum"); err != nil {
		return out, err
	}
	if out.Reconciles, err = r.m.reconcileHistogram(ctx); err != nil {
		return out, err
	}
	if out.Memory, err = r.m.memory(ctx); err != nil {
		return out, err
	}
	b.logf("  %d application policies: T_cold %.3fs, IsolationVerified %s after %.3fs (%d leaks); forced pass seen after %.3fs, %v reconciles of %.1f ms, %d state writes; reconcile p99 <= %gs; peak RSS %.1f MiB",
		out.AppPolicies, out.Cold.Seconds, out.IsolationReason, out.IsolationSeconds, out.LeakCount, out.ForcedPassSeconds,
		out.ForcedPasses.Count, out.ForcedPasses.MeanMs, out.ForcedWrites.StateTotal, out.Reconciles.quantileBound(0.99), out.Memory.PeakRSSMiB)
	return out, nil
}

// isolationDecided reports whether the profile's IsolationVerified is True
// or False for its generation.
func isolationDecided(p *segv1.SegmentationProfile) bool {
	if p == nil {
		return false
	}
	c := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified)
	return c != nil && c.Status != metav1.ConditionUnknown && c.ObservedGeneration == p.Generation
}

// annotatedPass annotates the profile (the manager's predicate passes
// annotation changes) and times the pass that follows.
func (r *managedRun) annotatedPass(ctx context.Context) (float64, Passes, Writes, error) {
	before, err := r.m.reconciles(ctx)
	if err != nil {
		return 0, Passes{}, Writes{}, err
	}
	meter, err := r.m.meterPasses(ctx)
	if err != nil {
		return 0, Passes{}, Writes{}, err
	}
	start := time.Now()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, touchAnnotation, strconv.FormatInt(start.UnixNano(), 10))
	if err := r.p.crd.Patch(ctx, r.b.profile.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return 0, Passes{}, Writes{}, fmt.Errorf("annotate profile: %w", err)
	}
	var seen time.Time
	for seen.IsZero() {
		n, err := r.m.reconciles(ctx)
		if err != nil {
			return 0, Passes{}, Writes{}, err
		}
		if n > before {
			seen = time.Now()
			break
		}
		if time.Since(start) > r.b.opts.timeout {
			return 0, Passes{}, Writes{}, fmt.Errorf("no reconcile after %s", r.b.opts.timeout)
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return 0, Passes{}, Writes{}, err
		}
	}
	if _, err := r.m.settle(ctx, before, settleQuiet, r.b.opts.timeout); err != nil {
		return 0, Passes{}, Writes{}, err
	}
	passes, err := meter.done(ctx)
	if err != nil {
		return 0, Passes{}, Writes{}, err
	}
	w, err := r.p.audit.writes(r.user, start, time.Now())
	return seconds(seen.Sub(start)), passes, w, err
}

// reconcileHistogram returns the controller's reconcile duration histogram.
func (m *managerProc) reconcileHistogram(ctx context.Context) (Histogram, error) {
	ms, err := m.Metrics(ctx)
	if err != nil {
		return Histogram{}, err
	}
	match := map[string]string{"controller": harness.ProfileController}
	h := Histogram{
		Count:      ms.Sum("controller_runtime_reconcile_time_seconds_count", match),
		SumSeconds: ms.Sum("controller_runtime_reconcile_time_seconds_sum", match),
	}
	prev := 0.0
	for _, s := range ms {
		if s.Name != "controller_runtime_reconcile_time_seconds_bucket" || s.Labels["controller"] != harness.ProfileController {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue // +Inf: the count
		}
		h.Buckets = append(h.Buckets, Bucket{LE: le, Count: s.Value})
	}
	sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].LE < h.Buckets[j].LE })
	kept := h.Buckets[:0]
	for _, bk := range h.Buckets {
		if bk.Count > prev {
			kept = append(kept, bk)
		}
		prev = bk.Count
	}
	h.Buckets = kept
	return h, nil
}

// appPolicyWorkers bounds parallel creates of application policies.
const appPolicyWorkers = 32

// createAppPolicies gives governed namespace i 1 + i%3 application
// policies and returns how many it created.
func createAppPolicies(ctx context.Context, c kubernetes.Interface, governed []string) (int, error) {
	total := 0
	for i := range governed {
		total += 1 + i%3
	}
	err := parallel(ctx, len(governed), appPolicyWorkers, func(ctx context.Context, i int) error {
		for _, pol := range appPolicies(governed[i], 1+i%3) {
			if _, err := c.NetworkingV1().NetworkPolicies(pol.Namespace).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create application policy %s/%s: %w", pol.Namespace, pol.Name, err)
			}
		}
		return nil
	})
	return total, err
}

// appPolicies are the first n of three policies an application keeps: the
// web pods admit the frontend on 8080, the database admits the web pods on
// 5432, the workers may reach one internal network on 443.
func appPolicies(namespace string, n int) []*networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	port := func(p int32) []networkingv1.NetworkPolicyPort {
		v := intstr.FromInt32(p)
		return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &v}}
	}
	app := func(name string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	from := func(name string) []networkingv1.NetworkPolicyPeer {
		s := app(name)
		return []networkingv1.NetworkPolicyPeer{{PodSelector: &s}}
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "shop"}}
	}
	all := []*networkingv1.NetworkPolicy{
		{ObjectMeta: meta("web-allow-frontend"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: app("web"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: from("frontend"), Ports: port(8080)}},
		}},
		{ObjectMeta: meta("db-allow-web"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: app("db"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: from("web"), Ports: port(5432)}},
		}},
		{ObjectMeta: meta("worker-egress-internal"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: app("worker"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.20.0.0/16", Except: []string{"10.20.5.0/24"}}}},
				Ports: port(443),
			}},
		}},
	}
	return all[:n]
}
