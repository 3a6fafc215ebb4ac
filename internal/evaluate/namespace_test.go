package evaluate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespaceAllowed(t *testing.T) {
	var (
		denyAllProd   = pol("prod", "default-deny", sel())
		fromStaging   = pol("prod", "from-staging", sel(), ingressRules(from(nsPeer(sel("tier", "staging")))))
		fromWebSameNS = pol("prod", "from-web", sel(), ingressRules(from(podPeer(sel("app", "web")))))
		denyEgStaging = pol("staging", "deny-egress", sel(), types("Egress"))
		internet      = pol("staging", "internet", sel(), types("Egress"), egressRules(to(block("0.0.0.0/0", "10.0.0.0/8"))))
		stagingA      = pol("prod", "from-staging-a", sel(), ingressRules(from(nsPodPeer(sel("tier", "staging"), sel("app", "a")))))
		aNoEgress     = pol("staging", "a-no-egress", sel("app", "a"), types("Egress"))
		webEgress443  = pol("staging", "web-egress", sel("app", "web"), egressRules(egRule{To: []npPeer{nsPeer(sel("tier", "prod"))}, Ports: []npPort{port(tcp, 443)}}))
		stagingWebIn  = pol("prod", "from-staging-web", sel(), ingressRules(from(nsPodPeer(sel("tier", "staging"), sel("app", "web")))))
		hasApp        = pol("prod", "has-app", expr("app", metav1.LabelSelectorOpExists), ingressRules(from(nsPeer(sel("tier", "staging")))))
		noApp         = pol("prod", "no-app", expr("app", metav1.LabelSelectorOpDoesNotExist), ingressRules(from(nsPeer(sel("tier", "staging")))))
		envNotInX     = pol("prod", "deny-env-not-x", expr("env", metav1.LabelSelectorOpNotIn, "x"))
		envInX        = pol("prod", "deny-env-x", expr("env", metav1.LabelSelectorOpIn, "x"))
		webDeny       = pol("prod", "web-deny", sel("app", "web"))
		namedHTTP     = pol("prod", "http", sel(), ingressRules(onPorts(namedPort("", "http"))))
		holeAllowAll  = pol("prod", "zz-allow-all", sel(), ingressRules(inRule{}))
		fromProdLabel = pol("prod", "allow-from-prod", sel(), ingressRules(from(nsPeer(sel("tier", "prod")))))
		fromDB        = pol("prod", "from-db", sel("app", "web"), ingressRules(from(podPeer(sel("app", "db")))))
	)
	cases := []struct {
		name       string
		policies   []np
		podCIDRs   []string
		from, to   string
		port       Port
		want       bool
		exact      bool
		in, eg     []string
		unisoDst   bool
		unisoSrc   bool
		conditions []string // substrings, each found in some Conditions entry
	}{
		{name: "no policies: every pair allowed, exactly", from: "staging", to: "prod", port: p(tcp, 80),
			want: true, exact: true, unisoDst: true, unisoSrc: true},
		{name: "deny-all ingress: no pair, exactly", policies: []np{denyAllProd}, from: "staging", to: "prod", port: p(tcp, 80),
			exact: true},
		{name: "non-empty podSelector leaves other pods non-isolated", policies: []np{webDeny}, from: "staging", to: "prod", port: p(tcp, 80),
			want: true, unisoDst: true, unisoSrc: true, conditions: []string{"no Ingress policy selects (prod/web-deny selects app=web)"}},
		{name: "selectors covering every label set leave no non-isolated pod", policies: []np{pol("prod", "deny-app", expr("app", metav1.LabelSelectorOpExists)), pol("prod", "deny-no-app", expr("app", metav1.LabelSelectorOpDoesNotExist))},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "In and NotIn on the same value cover every label set", policies: []np{envNotInX, envInX},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "NotIn selector leaves pods with the listed value non-isolated", policies: []np{envNotInX},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, unisoDst: true, unisoSrc: true,
			conditions: []string{"prod/deny-env-not-x selects env notin (x)"}},
		{name: "deny-all then allow by namespace label: matching namespace, exactly", policies: []np{denyAllProd, fromStaging},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, exact: true, in: []string{"prod/from-staging"}, unisoSrc: true},
		{name: "deny-all then allow by namespace label: other namespace denied", policies: []np{denyAllProd, fromStaging},
			from: "dev", to: "prod", port: p(tcp, 80), exact: true},
		{name: "podSelector peer allows only some pods of the same namespace", policies: []np{denyAllProd, fromWebSameNS},
			from: "prod", to: "prod", port: p(tcp, 80), want: true, in: []string{"prod/from-web"}, unisoSrc: true,
			conditions: []string{"a source pod in prod matching app=web (peer of prod/from-web)"}},
		{name: "podSelector peer never admits another namespace", policies: []np{denyAllProd, fromWebSameNS},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "namespace and pod selector peer is conditional", policies: []np{denyAllProd, stagingWebIn},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, in: []string{"prod/from-staging-web"}, unisoSrc: true,
			conditions: []string{"a source pod in staging matching app=web"}},
		{name: "non-isolated destination and podSelector-limited rule both reported", policies: []np{fromDB},
			from: "prod", to: "prod", port: p(tcp, 80), want: true, in: []string{"prod/from-db"}, unisoDst: true, unisoSrc: true,
			conditions: []string{"a destination pod in prod matching app=web (selected by prod/from-db) and a source pod in prod matching app=db"}},
		{name: "union of partial selectors allowing everything is exact", policies: []np{hasApp, noApp},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, exact: true, in: []string{"prod/has-app", "prod/no-app"}, unisoSrc: true},
		{name: "egress deny-all in source namespace blocks every pair", policies: []np{denyEgStaging},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "Egress-only policy in destination does not isolate ingress", policies: []np{pol("prod", "eg-only", sel(), types("Egress"))},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, exact: true, unisoDst: true, unisoSrc: true},
		{name: "source pod cannot satisfy contradictory ingress and egress constraints", policies: []np{denyAllProd, stagingA, aNoEgress},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "source constraints combine across sides: allowed port", policies: []np{denyAllProd, stagingWebIn, webEgress443},
			from: "staging", to: "prod", port: p(tcp, 443), want: true, in: []string{"prod/from-staging-web"}, eg: []string{"staging/web-egress"},
			conditions: []string{"a source pod in staging matching app=web (selected by staging/web-egress)"}},
		{name: "source constraints combine across sides: other port denied", policies: []np{denyAllProd, stagingWebIn, webEgress443},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "named port is assumed to resolve to any number", policies: []np{denyAllProd, namedHTTP},
			from: "staging", to: "prod", port: p(tcp, 8080), want: true, in: []string{"prod/http"}, unisoSrc: true,
			conditions: []string{`named port "http" resolving to TCP/8080`}},
		{name: "named port never matches another protocol", policies: []np{denyAllProd, namedHTTP},
			from: "staging", to: "prod", port: p(udp, 8080), exact: true},
		{name: "ipBlock may hold a pod IP when pod CIDRs are unknown", policies: []np{internet},
			from: "staging", to: "prod", port: p(tcp, 443), want: true, eg: []string{"staging/internet"}, unisoDst: true,
			conditions: []string{"a destination pod IP inside ipBlock 0.0.0.0/0 except 10.0.0.0/8"}},
		{name: "ipBlock excepting the pod CIDRs holds no pod", policies: []np{internet}, podCIDRs: []string{"10.244.0.0/16"},
			from: "staging", to: "prod", port: p(tcp, 443), exact: true},
		{name: "ipBlock overlapping the pod CIDRs may hold a pod", policies: []np{internet}, podCIDRs: []string{"100.64.0.0/16"},
			from: "staging", to: "prod", port: p(tcp, 443), want: true, eg: []string{"staging/internet"}, unisoDst: true,
			conditions: []string{"ipBlock"}},
		{name: "ipBlock whose excepts cover its cidr holds nothing", policies: []np{pol("staging", "empty-block", sel(), types("Egress"), egressRules(to(block("10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9"))))},
			from: "staging", to: "prod", port: p(tcp, 443), exact: true},
		{name: "allow-all foreign policy opens a hole next to deny-all", policies: []np{denyAllProd, fromProdLabel, holeAllowAll},
			from: "staging", to: "prod", port: p(tcp, 80), want: true, exact: true, in: []string{"prod/zz-allow-all"}, unisoSrc: true},
		{name: "without the foreign policy the same namespaces are isolated", policies: []np{denyAllProd, fromProdLabel},
			from: "staging", to: "prod", port: p(tcp, 80), exact: true},
		{name: "namespace missing from the snapshot is matched by name", policies: []np{denyAllProd, pol("prod", "from-legacy", sel(), ingressRules(from(nsPeer(sel("kubernetes.io/metadata.name", "legacy")))))},
			from: "legacy", to: "prod", port: p(tcp, 80), want: true, exact: true, in: []string{"prod/from-legacy"}, unisoSrc: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Cluster{Namespaces: fixtureNamespaces, Policies: tc.policies, PodCIDRs: tc.podCIDRs})
			if err := e.Err(); err != nil {
				t.Fatalf("fixture invalid: %v", err)
			}
			v := e.NamespaceAllowed(tc.from, tc.to, tc.port)
			if v.Allowed != tc.want || v.Exact != tc.exact {
				t.Errorf("Allowed=%v Exact=%v, want %v/%v (%s; %s)", v.Allowed, v.Exact, tc.want, tc.exact, v.Reason, v.Assumption)
			}
			if !sameList(v.IngressPolicies, tc.in) || !sameList(v.EgressPolicies, tc.eg) {
				t.Errorf("policies in=%v eg=%v, want in=%v eg=%v", v.IngressPolicies, v.EgressPolicies, tc.in, tc.eg)
			}
			if v.UnisolatedDestination != tc.unisoDst || v.UnisolatedSource != tc.unisoSrc {
				t.Errorf("UnisolatedDestination=%v UnisolatedSource=%v, want %v/%v",
					v.UnisolatedDestination, v.UnisolatedSource, tc.unisoDst, tc.unisoSrc)
			}
			all := strings.Join(v.Conditions, "\n")
			for _, c := range tc.conditions {
				if !strings.Contains(all, c) {
					t.Errorf("Conditions %q lack %q", v.Conditions, c)
				}
			}
			if v.Exact != (len(v.Conditions) == 0) {
				t.Errorf("Exact=%v but Conditions=%q: an over-approximation must say what it assumes", v.Exact, v.Conditions)
			}
			if !v.Exact && !strings.HasPrefix(v.Assumption, "over-approximation") {
				t.Errorf("Assumption %q does not flag the over-approximation", v.Assumption)
			}
			if v.Assumption == "" || v.Reason == "" {
				t.Error("Assumption and Reason must always be set")
			}
		})
	}
}

// TestNamespaceAllowedAgreesWithPods checks soundness: whenever concrete
// pods may talk, the namespace-level answer must say so too.
func TestNamespaceAllowedAgreesWithPods(t *testing.T) {
	policies := []np{
		pol("prod", "default-deny", sel()),
		pol("prod", "from-staging-web", sel("app", "web"), ingressRules(from(nsPodPeer(sel("tier", "staging"), sel("app", "web"))))),
		pol("prod", "db-from-web", sel("app", "db"), ingressRules(inRule{From: []npPeer{podPeer(sel("app", "web"))}, Ports: []npPort{namedPort("", "pg")}})),
		pol("staging", "egress", sel("env", "qa"), egressRules(to(nsPeer(sel("tier", "prod"))))),
		pol("monitoring", "deny-egress", sel(), types("Egress")),
	}
	e := newFixture(t, policies...)
	ports := []Port{p(tcp, 80), p(tcp, 5432), p(udp, 53), p(tcp, 8080)}
	for _, a := range fixturePods {
		for _, b := range fixturePods {
			for _, pt := range ports {
				if !e.Allowed(ep(a), ep(b), pt).Allowed {
					continue
				}
				if v := e.NamespaceAllowed(a.Namespace, b.Namespace, pt); !v.Allowed {
					t.Errorf("%s/%s -> %s/%s on %s allowed for pods but not for namespaces: %s",
						a.Namespace, a.Name, b.Namespace, b.Name, pt, v.Reason)
				}
			}
		}
	}
}

func TestNamespaceDeniedReason(t *testing.T) {
	cases := []struct {
		name     string
		policies []np
		want     string
	}{
		{name: "destination isolated", policies: []np{pol("prod", "deny", sel())}, want: "every pod of prod is ingress-isolated"},
		{name: "source isolated", policies: []np{pol("staging", "deny", sel(), types("Egress"))}, want: "every pod of staging is egress-isolated"},
		{name: "no single pair", want: "no single pod pair",
			policies: []np{
				pol("prod", "deny", sel()),
				pol("prod", "from-a", sel(), ingressRules(from(nsPodPeer(sel(), sel("app", "a"))))),
				pol("staging", "a-no-egress", sel("app", "a"), types("Egress")),
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newFixture(t, tc.policies...).NamespaceAllowed("staging", "prod", p(tcp, 80))
			if v.Allowed || !strings.Contains(v.Reason, tc.want) {
				t.Errorf("Allowed=%v Reason=%q, want denied mentioning %q", v.Allowed, v.Reason, tc.want)
			}
		})
	}
}
