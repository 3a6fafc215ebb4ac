package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Extras is what unrelated objects cost the manager's memory.
type Extras struct {
	// Objects is how many objects of each kind were added.
	Objects int `json:"objects"`
	// Before, WithConfigMaps and WithPolicies are the memory readings
	// before, after adding the ConfigMaps, and after adding the policies.
	Before         Memory `json:"before"`
	WithConfigMaps Memory `json:"withConfigMaps"`
	WithPolicies   Memory `json:"withPolicies"`
	// ConfigMapHeapMiBPer10k and PolicyHeapMiBPer10k are the heap-in-use
	// deltas scaled to 10,000 objects.
	ConfigMapHeapMiBPer10k float64 `json:"configMapHeapMiBPer10k"`
	PolicyHeapMiBPer10k    float64 `json:"policyHeapMiBPer10k"`
	// Writes are the manager's writes meanwhile (none expected).
	Writes Writes `json:"writes"`
}

// extras adds ConfigMaps, then foreign NetworkPolicies, to the unrelated
// namespaces and reads the manager's heap after each.
func (r *managedRun) extras(ctx context.Context) (*Extras, error) {
	n := r.b.opts.extraObjects
	e := &Extras{Objects: n}
	start := time.Now()
	var err error
	if e.Before, err = r.m.memory(ctx); err != nil {
		return nil, err
	}
	steps := []struct {
		create func(ctx context.Context, i int, namespace string) error
		out    *Memory
	}{{r.createConfigMap, &e.WithConfigMaps}, {r.createForeignPolicy, &e.WithPolicies}}
	for _, s := range steps {
		err := parallel(ctx, n, populateWorkers, func(ctx context.Context, i int) error {
			return s.create(ctx, i, r.l.Unrelated[i%len(r.l.Unrelated)])
		})
		if err != nil {
			return nil, err
		}
		// The manager's informers receive the new objects shortly after the
		// creates return; no reconcile is expected, so wait for calm.
		if _, err := r.m.settle(ctx, -1, 2*settleQuiet, r.b.opts.timeout); err != nil {
			return nil, err
		}
		if *s.out, err = r.m.memory(ctx); err != nil {
			return nil, err
		}
	}
	scale := 10000 / float64(n)
	e.ConfigMapHeapMiBPer10k = round3((e.WithConfigMaps.HeapInuseMiB - e.Before.HeapInuseMiB) * scale)
	e.PolicyHeapMiBPer10k = round3((e.WithPolicies.HeapInuseMiB - e.WithConfigMaps.HeapInuseMiB) * scale)
	if e.Writes, err = r.p.audit.writes(r.user, start, time.Now()); err != nil {
		return nil, err
	}
	r.b.logf("  heap per 10,000 unrelated objects: ConfigMaps %+.2f MiB, foreign NetworkPolicies %+.2f MiB",
		e.ConfigMapHeapMiBPer10k, e.PolicyHeapMiBPer10k)
	return e, nil
}

// createConfigMap creates a ConfigMap of about 1 KiB, a typical
// application setting.
func (r *managedRun) createConfigMap(ctx context.Context, i int, namespace string) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-config-%05d", i), Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%100)}},
		Data:       map[string]string{"settings.yaml": strings.Repeat("key: value\n", 90)},
	}
	if _, err := r.p.admin.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", namespace, cm.Name, err)
	}
	return nil
}

// createForeignPolicy creates a NetworkPolicy of the kind applications
// ship: their pods admit their frontend on one port.
func (r *managedRun) createForeignPolicy(ctx context.Context, i int, namespace string) error {
	app := fmt.Sprintf("app-%d", i%100)
	port := intstr.FromInt32(8080)
	tcp := corev1.ProtocolTCP
	pol := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("allow-frontend-%05d", i), Labels: map[string]string{"app": app}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	if _, err := r.p.admin.NetworkingV1().NetworkPolicies(namespace).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create NetworkPolicy %s/%s: %w", namespace, pol.Name, err)
	}
	return nil
}
