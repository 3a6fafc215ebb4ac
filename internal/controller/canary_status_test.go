package controller

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// TestSetCanary: the condition follows the last round with its verdict's
// message, is Unknown before any round and once the rounds went stale (a
// canary that stopped running must not keep vouching), and is absent while
// the canary is off.
func TestSetCanary(t *testing.T) {
	round := segv1.CanaryRound{Time: metav1.NewTime(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)), Result: segv1.CanaryEnforced}
	for _, c := range []struct {
		name   string
		r      *canaryResult
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"pending", &canaryResult{pending: "waiting until the canary's server pods are ready"},
			metav1.ConditionUnknown, segv1.ReasonCanaryPending, "server pods"},
		{"enforced", &canaryResult{status: &segv1.CanaryStatus{Rounds: []segv1.CanaryRound{round}}, message: "2 forbidden paths blocked", pending: "old"},
			metav1.ConditionTrue, segv1.ReasonEnforced, "2 forbidden paths blocked"},
		{"stale", &canaryResult{status: &segv1.CanaryStatus{Rounds: []segv1.CanaryRound{round}}, message: "2 forbidden paths blocked",
			pending: "create canary client: forbidden", stale: true},
			metav1.ConditionUnknown, segv1.ReasonInconclusive, "no canary round has finished since 2026-12-07T08:00:00Z: create canary client: forbidden"},
	} {
		st := segv1.SegmentationProfileStatus{}
		setCanary(&st, c.r, 1)
		got := meta.FindStatusCondition(st.Conditions, segv1.ConditionEnforcementVerified)
		if got == nil || got.Status != c.status || got.Reason != c.reason || !strings.Contains(got.Message, c.msg) {
			t.Errorf("%s: %+v, want %s/%s with %q", c.name, got, c.status, c.reason, c.msg)
		}
		setCanary(&st, nil, 1)
		if meta.FindStatusCondition(st.Conditions, segv1.ConditionEnforcementVerified) != nil || st.Canary != nil {
			t.Errorf("%s: canary off, but the condition or status.canary stays", c.name)
		}
	}
}
