package health_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// The statuses below are the ones the controller writes
// (internal/controller/status.go): the same condition types, reasons and
// kinds of message, with every condition's observedGeneration set to the
// generation the status describes.

func cond(t string, s metav1.ConditionStatus, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen,
		LastTransitionTime: metav1.Now()}
}

// enforced: every governed namespace matches the plan.
func enforced(gen int64) segv1.SegmentationProfileStatus {
	return segv1.SegmentationProfileStatus{
		ObservedGeneration: gen,
		GovernedNamespaces: 2,
		ManagedPolicies:    2,
		Tiers:              []segv1.TierStatus{{Name: "dev", Namespaces: 1}, {Name: "prod", Namespaces: 1}},
		Conditions: []metav1.Condition{
			cond(segv1.ConditionConflict, metav1.ConditionFalse, segv1.ReasonNoConflicts, "No namespace is claimed twice", gen),
			cond(segv1.ConditionDrifted, metav1.ConditionFalse, segv1.ReasonNoDrift, "No drift detected", gen),
			cond(segv1.ConditionReady, metav1.ConditionTrue, segv1.ReasonEnforced, "2 namespace(s) match the plan", gen),
			cond(segv1.ConditionIsolationVerified, metav1.ConditionTrue, segv1.ReasonNoLeaks,
				"No NetworkPolicy or ClusterNetworkPolicy allows traffic the profile forbids", gen),
		},
	}
}

// audited: Audit mode, the plan computed and reported.
func audited(gen int64) segv1.SegmentationProfileStatus {
	st := enforced(gen)
	st.ManagedPolicies = 0
	st.PendingChanges = 4
	setCond(&st, cond(segv1.ConditionReady, metav1.ConditionTrue, segv1.ReasonAudited,
		"Audit mode: 2 namespace(s) governed, 4 change(s) pending", gen))
	setCond(&st, cond(segv1.ConditionIsolationVerified, metav1.ConditionUnknown, segv1.ReasonEvaluating,
		"Isolation is verified once Tierguard's policies are in place", gen))
	return st
}

// retrying: a write failed; Ready False/ApplyFailed and Reconciling True
// while Tierguard retries.
func retrying(gen int64) segv1.SegmentationProfileStatus {
	st := enforced(gen)
	st.ManagedPolicies = 1
	st.PendingChanges = 1
	setCond(&st, cond(segv1.ConditionReady, metav1.ConditionFalse, segv1.ReasonApplyFailed,
		`1 of 2 write(s) failed: ApplyPolicy prod-payments: networkpolicies.networking.k8s.io "tierguard-isolation" is forbidden`, gen))
	setCond(&st, cond(segv1.ConditionReconciling, metav1.ConditionTrue, segv1.ReasonApplyFailed, "Retrying failed writes", gen))
	setCond(&st, cond(segv1.ConditionIsolationVerified, metav1.ConditionUnknown, segv1.ReasonEvaluating,
		"Isolation is verified once Tierguard's policies are in place", gen))
	return st
}

// stalled: a namespace is claimed by an older profile; a person must act.
func stalled(gen int64) segv1.SegmentationProfileStatus {
	const msg = "1 conflict(s): shared ClaimedByProfile: namespace shared is governed by the older profile company"
	st := enforced(gen)
	st.GovernedNamespaces = 1
	st.ConflictCount = 1
	st.Conflicts = []segv1.Conflict{{Namespace: "shared", Reason: segv1.ConflictClaimedByProfile,
		Message: "namespace shared is governed by the older profile company"}}
	setCond(&st, cond(segv1.ConditionConflict, metav1.ConditionTrue, segv1.ReasonConflictsFound, msg, gen))
	setCond(&st, cond(segv1.ConditionStalled, metav1.ConditionTrue, segv1.ReasonConflict, msg, gen))
	setCond(&st, cond(segv1.ConditionReady, metav1.ConditionFalse, segv1.ReasonConflict,
		"1 namespace(s) enforced; conflicts need attention: shared ClaimedByProfile: namespace shared is governed by the older profile company", gen))
	return st
}

// leaking: enforced, but another NetworkPolicy opens a hole.
func leaking(gen int64) segv1.SegmentationProfileStatus {
	st := enforced(gen)
	st.Isolation = segv1.IsolationStatus{LeakCount: 1, Leaks: []segv1.Leak{{FromTier: "dev", To: "prod-payments",
		Ports: "TCP/all", Policy: "prod-payments/allow-all"}}}
	setCond(&st, cond(segv1.ConditionIsolationVerified, metav1.ConditionFalse, segv1.ReasonLeaksFound,
		"1 hole(s): tier dev -> prod-payments TCP/all (prod-payments/allow-all)", gen))
	return st
}

func setCond(st *segv1.SegmentationProfileStatus, c metav1.Condition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

var profileSeq atomic.Int32

func newProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("health-%d", profileSeq.Add(1))},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"dev-a"}}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"prod-payments"}}},
			},
		},
	}
}

// readBack returns the profile as the API server serves it, the way GitOps
// tools see it.
func readBack(p *segv1.SegmentationProfile) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(segv1.GroupVersion.WithKind("SegmentationProfile"))
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), u)).To(Succeed())
	return u
}

func healthScript() string {
	data, err := os.ReadFile(filepath.Join(repo, "config", "argocd", "health.lua"))
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// argoHealth runs an Argo CD health script as Argo CD runs a custom check
// from argocd-cm: a fresh Lua state with only the package, base and table
// libraries (no string library, no io or os), the object as the global obj,
// and the table the script returns.
func argoHealth(script string, obj map[string]any) (string, string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	st, msg := ret.RawGetString("status"), ret.RawGetString("message")
	if st.Type() != lua.LTString {
		return "", "", fmt.Errorf("status is %s, not a string", st.Type())
	}
	switch st.String() {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return "", "", fmt.Errorf("%q is not an Argo CD health status", st.String())
	}
	return st.String(), lua.LVAsString(msg), nil
}

// toLua converts an unstructured object to Lua values the way Argo CD does:
// maps become tables keyed by string, lists become tables indexed from 1,
// numbers (int64 from the API server, or float64) become Lua numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch t := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(t)
	case string:
		return lua.LString(t)
	case json.Number:
		return lua.LString(t)
	case int:
		return lua.LNumber(t)
	case int32:
		return lua.LNumber(t)
	case int64:
		return lua.LNumber(t)
	case float64:
		return lua.LNumber(t)
	case []any:
		tbl := L.CreateTable(len(t), 0)
		for _, e := range t {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case map[string]any:
		tbl := L.CreateTable(0, len(t))
		for k, e := range t {
			tbl.RawSetH(lua.LString(k), toLua(L, e))
		}
		return tbl
	}
	return lua.LNil
}

var _ = Describe("GitOps health of a SegmentationProfile", func() {
	type scenario struct {
		// status the controller would write for the profile's generation;
		// nil: the profile has no status yet.
		status func(gen int64) segv1.SegmentationProfileStatus
		// changeSpec: after the status is written, the spec changes, so the
		// generation is newer than the one observed.
		changeSpec  bool
		wantKstatus status.Status
		wantArgo    string
		wantMessage string // a substring of Argo CD's message
	}

	DescribeTable("kstatus and the Argo CD health check agree with the conditions",
		func(sc scenario) {
			p := newProfile()
			Expect(k8s.Create(ctx, p)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })

			if sc.status != nil {
				p.Status = sc.status(p.Generation)
				Expect(k8s.Status().Update(ctx, p)).To(Succeed())
			}
			if sc.changeSpec {
				before := p.DeepCopy()
				p.Spec.ExcludedNamespaces = []segv1.NamespaceName{"legacy"}
				Expect(k8s.Patch(ctx, p, client.MergeFrom(before))).To(Succeed())
			}

			u := readBack(p)
			gen := u.GetGeneration()
			observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			if sc.changeSpec {
				Expect(gen).To(BeNumerically(">", observed), "the spec change must bump the generation")
			} else if sc.status != nil {
				Expect(observed).To(Equal(gen))
			}

			res, err := status.Compute(u)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(sc.wantKstatus), "kstatus message: %s", res.Message)

			health, msg, err := argoHealth(healthScript(), u.Object)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal(sc.wantArgo), "Argo CD message: %s", msg)
			Expect(msg).To(ContainSubstring(sc.wantMessage))
			GinkgoWriter.Printf("generation %d, observed %d: kstatus %s (%s); Argo CD %s (%s)\n",
				gen, observed, res.Status, res.Message, health, msg)
		},
		Entry("enforced, observedGeneration current: Current and Healthy", scenario{
			status: enforced, wantKstatus: status.CurrentStatus,
			wantArgo: "Healthy", wantMessage: "2 namespace(s) match the plan",
		}),
		Entry("Audit mode: Current and Healthy", scenario{
			status: audited, wantKstatus: status.CurrentStatus,
			wantArgo: "Healthy", wantMessage: "Audit mode: 2 namespace(s) governed",
		}),
		Entry("enforced with a hole another policy opens: Current and Healthy, the hole in the message", scenario{
			status: leaking, wantKstatus: status.CurrentStatus,
			wantArgo: "Healthy", wantMessage: "isolation not verified: 1 hole(s)",
		}),
		Entry("Reconciling True while failed writes are retried: InProgress; Degraded for Argo CD (ApplyFailed)", scenario{
			status: retrying, wantKstatus: status.InProgressStatus,
			wantArgo: "Degraded", wantMessage: "ApplyFailed: 1 of 2 write(s) failed",
		}),
		Entry("generation newer than observedGeneration: InProgress and Progressing", scenario{
			status: enforced, changeSpec: true, wantKstatus: status.InProgressStatus,
			wantArgo: "Progressing", wantMessage: "Waiting for Tierguard to observe generation 2 (status describes generation 1)",
		}),
		Entry("a stalled profile whose spec changed is Progressing again: InProgress and Progressing", scenario{
			status: stalled, changeSpec: true, wantKstatus: status.InProgressStatus,
			wantArgo: "Progressing", wantMessage: "observe generation 2",
		}),
		Entry("Stalled True with reason Conflict: Failed and Degraded", scenario{
			status: stalled, wantKstatus: status.FailedStatus,
			wantArgo: "Degraded", wantMessage: "Stalled: 1 conflict(s): shared ClaimedByProfile",
		}),
		// kstatus cannot tell a profile Tierguard has not seen yet from a
		// resource without status conventions, and reports Current; the
		// Argo CD check knows that profiles always get a status.
		Entry("no status yet: Current for kstatus (it cannot tell); Progressing for Argo CD", scenario{
			wantKstatus: status.CurrentStatus,
			wantArgo:    "Progressing", wantMessage: "Waiting for Tierguard to report status",
		}),
	)

	It("status read back from the API server keeps what the checks read", func() {
		p := newProfile()
		Expect(k8s.Create(ctx, p)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, p)).To(Succeed()) })
		p.Status = retrying(p.Generation)
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())

		u := readBack(p)
		// The status subresource must not have dropped or defaulted away
		// anything: conditions with their observedGeneration, as int64.
		conds, found, err := unstructured.NestedSlice(u.Object, "status", "conditions")
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue())
		Expect(conds).To(HaveLen(5))
		for _, c := range conds {
			m := c.(map[string]any)
			Expect(m["observedGeneration"]).To(BeAssignableToTypeOf(int64(0)))
			Expect(m["observedGeneration"]).To(Equal(p.Generation))
		}
		// The spec cannot be changed through the status subresource.
		before := p.Spec.DeepCopy()
		p.Spec.ExcludedNamespaces = []segv1.NamespaceName{"ignored"}
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.Spec.ExcludedNamespaces).To(Equal(before.ExcludedNamespaces))
	})
})

var _ = Describe("The Argo CD health check", func() {
	// Statuses the controller does not write today but a check must still
	// handle, evaluated on hand-built objects.
	DescribeTable("handles other combinations of conditions",
		func(conds []any, wantHealth, wantMessage string) {
			obj := map[string]any{
				"apiVersion": "segmentation.tierguard.io/v1alpha1", "kind": "SegmentationProfile",
				"metadata": map[string]any{"name": "p", "generation": int64(3)},
				"status":   map[string]any{"observedGeneration": int64(3), "conditions": conds},
			}
			health, msg, err := argoHealth(healthScript(), obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal(wantHealth))
			Expect(msg).To(ContainSubstring(wantMessage))
		},
		Entry("Reconciling True alone: Progressing",
			[]any{c("Reconciling", "True", "Progressing", "Applying 3 change(s)", 3), c("Ready", "Unknown", "Progressing", "", 3)},
			"Progressing", "Reconciling: Applying 3 change(s)"),
		Entry("Ready True but for an older generation: Progressing",
			[]any{c("Ready", "True", "Enforced", "2 namespace(s) match the plan", 2)},
			"Progressing", "Waiting for Ready"),
		Entry("Ready False for another reason (deletion): Progressing",
			[]any{c("Ready", "False", "Deleting", "Removing labels and policies", 3)},
			"Progressing", "Waiting for Ready: Removing labels and policies"),
		Entry("no Ready condition: Progressing",
			[]any{c("Drifted", "False", "NoDrift", "No drift detected", 3)},
			"Progressing", "Waiting for the Ready condition"),
		Entry("an empty message: the condition is described",
			[]any{c("Stalled", "True", "Conflict", "", 3)},
			"Degraded", "Stalled: Stalled is True (Conflict)"),
		Entry("Ready False/Conflict without Stalled: Degraded",
			[]any{c("Ready", "False", "Conflict", "0 namespace(s) enforced; conflicts need attention", 3)},
			"Degraded", "Conflict: 0 namespace(s) enforced"),
	)

	It("treats a profile with a status but no conditions as Progressing", func() {
		obj := map[string]any{"metadata": map[string]any{"name": "p", "generation": int64(1)},
			"status": map[string]any{"governedNamespaces": int64(0)}}
		health, _, err := argoHealth(healthScript(), obj)
		Expect(err).NotTo(HaveOccurred())
		Expect(health).To(Equal("Progressing"))
	})

	It("is the script the argocd-cm snippet in config/argocd/README.md carries", func() {
		readme, err := os.ReadFile(filepath.Join(repo, "config", "argocd", "README.md"))
		Expect(err).NotTo(HaveOccurred())
		blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
		Expect(blocks).NotTo(BeEmpty())
		cm := &corev1.ConfigMap{}
		Expect(yaml.UnmarshalStrict([]byte(blocks[0][1]), cm)).To(Succeed())
		Expect(cm.Name).To(Equal("argocd-cm"))
		const key = "resource.customizations.health.segmentation.tierguard.io_SegmentationProfile"
		Expect(cm.Data).To(HaveKey(key))
		Expect(strings.TrimSpace(cm.Data[key])).To(Equal(strings.TrimSpace(healthScript())),
			"the README's snippet differs from health.lua")
	})
})

func c(t, s, reason, msg string, gen int64) map[string]any {
	return map[string]any{"type": t, "status": s, "reason": reason, "message": msg,
		"observedGeneration": gen, "lastTransitionTime": "2026-01-01T00:00:00Z"}
}
