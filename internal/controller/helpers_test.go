package controller_test

import (
	"context"
	"fmt"
	"sync/atomic"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

var fixtureSeq atomic.Int32

// fixture isolates one test: its namespaces carry a unique suite label, its
// profile a unique name and tierLabelKey, so tests never claim each other's
// namespaces.
type fixture struct {
	id  string
	key string
	ctx context.Context
}

func newFixture() *fixture {
	id := fmt.Sprintf("c%d", fixtureSeq.Add(1))
	return &fixture{id: id, key: id + ".tierguard.test/tier", ctx: context.Background()}
}

// namespace creates namespace <id>-<name> labelled with the suite label and
// labels, and returns its name.
func (f *fixture) namespace(name string, labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.id + "-" + name, Labels: map[string]string{"tg-suite": f.id}}}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	Expect(k8s.Create(f.ctx, ns)).To(Succeed())
	return ns.Name
}

// envNamespace creates a namespace whose env label puts it in a tier.
func (f *fixture) envNamespace(name, env string) string {
	return f.namespace(name, map[string]string{"env": env})
}

// selector selects this fixture's namespaces of one env.
func (f *fixture) selector(env string) *segv1.LabelSelector {
	return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"tg-suite": segv1.LabelValue(f.id), "env": segv1.LabelValue(env)}}
}

// profile returns a profile with tiers dev, test and prod selected by env,
// a flow dev to test on TCP 443, and the shared namespace <id>-ingress.
func (f *fixture) profile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: f.id},
		Spec: segv1.SegmentationProfileSpec{
			TierLabelKey: segv1.LabelKey(f.key),
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: f.selector("dev")},
					NamespaceLabels: map[string]segv1.LabelValue{"pod-security.kubernetes.io/enforce": "baseline"}},
				{Name: "test", Namespaces: segv1.NamespaceSet{Selector: f.selector("test")}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: f.selector("prod")}, Isolation: segv1.IsolationNamespace},
			},
			Flows: []segv1.Flow{{From: "dev", To: "test", Ports: []segv1.NetworkPolicyPort{
				{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))}}}},
			SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{segv1.NamespaceName(f.id + "-ingress")}},
		},
	}
}

func (f *fixture) create(p *segv1.SegmentationProfile) {
	Expect(k8s.Create(f.ctx, p)).To(Succeed())
}

// cleanup deletes the profile and waits until it is gone.
func (f *fixture) cleanup() {
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: f.id}}
	_ = k8s.Delete(f.ctx, p)
	Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(f.ctx, client.ObjectKeyFromObject(p), p))
	}, timeout, interval).Should(BeTrue())
}

func (f *fixture) get(name string) *segv1.SegmentationProfile {
	p := &segv1.SegmentationProfile{}
	Expect(k8s.Get(f.ctx, client.ObjectKey{Name: name}, p)).To(Succeed())
	return p
}

// update changes the profile's spec, retrying on conflicts with the
// manager's writes.
func (f *fixture) update(name string, mutate func(*segv1.SegmentationProfile)) {
	Eventually(func() error {
		p := f.get(name)
		mutate(p)
		return k8s.Update(f.ctx, p)
	}, timeout, interval).Should(Succeed())
}

// condition returns "Status/Reason" of a condition, or "" when absent.
func (f *fixture) condition(name, condType string) func() string {
	return func() string {
		p := &segv1.SegmentationProfile{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: name}, p); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, condType)
		if c == nil {
			return ""
		}
		if c.ObservedGeneration != p.Generation {
			return "stale"
		}
		return string(c.Status) + "/" + c.Reason
	}
}

// waitEnforced waits for Ready=True/Enforced at the current generation.
func (f *fixture) waitEnforced(name string) {
	Eventually(f.condition(name, segv1.ConditionReady), timeout, interval).Should(Equal("True/Enforced"))
}

func labelsOf(name string) map[string]string {
	ns := &corev1.Namespace{}
	Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns)).To(Succeed())
	return ns.Labels
}

func policyIn(ns string) (*networkingv1.NetworkPolicy, error) {
	pol := &networkingv1.NetworkPolicy{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: render.PolicyName}, pol)
	return pol, err
}

// tierOf returns the tier label of a namespace's managed policy, or "" when
// it has none.
func tierOf(ns string) func() string {
	return func() string {
		pol, err := policyIn(ns)
		if err != nil {
			return ""
		}
		return pol.Labels[render.PolicyTierLabel]
	}
}

func policyGone(ns string) func() bool {
	return func() bool {
		_, err := policyIn(ns)
		return apierrors.IsNotFound(err)
	}
}
