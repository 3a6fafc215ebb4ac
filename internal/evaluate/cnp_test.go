package evaluate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

func cnp(name string, tier npav1beta1.Tier, priority int32, subjectNS map[string]string, ingress ...npav1beta1.ClusterNetworkPolicyIngressRule) npav1beta1.ClusterNetworkPolicy {
	return npav1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: npav1beta1.ClusterNetworkPolicySpec{
		Tier: tier, Priority: priority,
		Subject: npav1beta1.ClusterNetworkPolicySubject{Namespaces: &metav1.LabelSelector{MatchLabels: subjectNS}},
		Ingress: ingress,
	}}
}

func cnpFrom(action npav1beta1.ClusterNetworkPolicyRuleAction, ns map[string]string, protocols ...npav1beta1.ClusterNetworkPolicyProtocol) npav1beta1.ClusterNetworkPolicyIngressRule {
	return npav1beta1.ClusterNetworkPolicyIngressRule{Name: string(action), Action: action,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{MatchLabels: ns}}}, Protocols: protocols}
}

func cnpTCP(port int32) npav1beta1.ClusterNetworkPolicyProtocol {
	return npav1beta1.ClusterNetworkPolicyProtocol{TCP: &npav1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &npav1beta1.Port{Number: port}}}
}

var (
	devLabels  = map[string]string{"tier": "dev"}
	prodLabels = map[string]string{"tier": "prod"}
	allowAll   = networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: "allow-all"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
	denyAll = networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: "deny-all"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
)

// TestClusterNetworkPolicyPrecedence: Admin (by priority, rule order;
// Accept and Deny final, Pass to the next tier), then NetworkPolicies, then
// Baseline, then allow.
func TestClusterNetworkPolicyPrecedence(t *testing.T) {
	A, B := npav1beta1.AdminTier, npav1beta1.BaselineTier
	accept, deny, pass := npav1beta1.ClusterNetworkPolicyRuleActionAccept, npav1beta1.ClusterNetworkPolicyRuleActionDeny, npav1beta1.ClusterNetworkPolicyRuleActionPass
	for _, tc := range []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		cnps     []npav1beta1.ClusterNetworkPolicy
		port     int32
		want     bool
		by       string
	}{
		{name: "nothing: allowed", want: true},
		{name: "an Admin deny beats a NetworkPolicy allow-all", policies: []networkingv1.NetworkPolicy{allowAll},
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("boundary", A, 10, prodLabels, cnpFrom(deny, nil))}, want: false, by: "boundary/Deny"},
		{name: "an Admin accept beats a NetworkPolicy deny-all", policies: []networkingv1.NetworkPolicy{denyAll},
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("open", A, 10, prodLabels, cnpFrom(accept, devLabels))}, want: true, by: "open/Accept"},
		{name: "Pass hands the decision to the NetworkPolicies", policies: []networkingv1.NetworkPolicy{denyAll},
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("p", A, 10, prodLabels, cnpFrom(pass, devLabels), cnpFrom(accept, nil))}, want: false},
		{name: "Pass skips the rest of the Admin tier, later policies included",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("a-pass", A, 10, prodLabels, cnpFrom(pass, devLabels)), cnp("b-deny", A, 20, prodLabels, cnpFrom(deny, nil))},
			want: true},
		{name: "the lower priority number goes first",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("z-accept", A, 5, prodLabels, cnpFrom(accept, devLabels)), cnp("a-deny", A, 50, prodLabels, cnpFrom(deny, nil))},
			want: true, by: "z-accept/Accept"},
		{name: "rules in order within a policy",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("p", A, 10, prodLabels, cnpFrom(deny, devLabels), cnpFrom(accept, devLabels))}, want: false},
		{name: "a rule on another port does not match",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("p", A, 10, prodLabels, cnpFrom(accept, devLabels, cnpTCP(443)), cnpFrom(deny, nil))}, port: 22, want: false},
		{name: "a rule on the port matches",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("p", A, 10, prodLabels, cnpFrom(accept, devLabels, cnpTCP(443)), cnpFrom(deny, nil))}, port: 443, want: true},
		{name: "Baseline deny applies when no NetworkPolicy selects the pod",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("base", B, 10, prodLabels, cnpFrom(deny, nil))}, want: false, by: "base/Deny"},
		{name: "a NetworkPolicy overrides Baseline", policies: []networkingv1.NetworkPolicy{allowAll},
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("base", B, 10, prodLabels, cnpFrom(deny, nil))}, want: true},
		{name: "a policy whose subject is another tier does not apply",
			cnps: []npav1beta1.ClusterNetworkPolicy{cnp("dev-only", A, 10, devLabels, cnpFrom(deny, nil))}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Cluster{
				Namespaces:             []Namespace{{Name: "dev-a", Labels: devLabels}, {Name: "prod-a", Labels: prodLabels}},
				Policies:               tc.policies,
				ClusterNetworkPolicies: tc.cnps,
			})
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			port := tc.port
			if port == 0 {
				port = 8080
			}
			v := e.Allowed(PodEndpoint(Pod{Namespace: "dev-a", Name: "client"}), PodEndpoint(Pod{Namespace: "prod-a", Name: "server"}),
				Port{Protocol: corev1.ProtocolTCP, Port: port})
			if v.Allowed != tc.want {
				t.Fatalf("allowed %t, want %t: %s", v.Allowed, tc.want, v.Reason)
			}
			if tc.by != "" && v.IngressClusterPolicy != tc.by {
				t.Fatalf("decided by %q, want %q", v.IngressClusterPolicy, tc.by)
			}
		})
	}
}
