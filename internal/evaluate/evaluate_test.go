package evaluate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	isoNone = ""
	isoIn   = "in"
	isoEg   = "eg"
	isoBoth = "both"
)

func TestAllowed(t *testing.T) {
	var (
		denyAllProd  = pol("prod", "default-deny", sel())
		ext4         = IPEndpoint("203.0.113.5")
		ext4Except   = IPEndpoint("203.0.113.200")
		ext4Outside  = IPEndpoint("198.51.100.1")
		ext6         = IPEndpoint("2001:db8::5")
		ext6Except   = IPEndpoint("2001:db8::ff:1")
		egressDNS    = pol("prod", "egress-dns", sel("app", "web"), egressRules(egRule{Ports: []npPort{port(udp, 53)}}))
		egressOnly   = pol("prod", "egress-only", sel(), types("Egress"))
		web80        = pol("prod", "web-80", sel("app", "web"), ingressRules(onPorts(port("", 80))))
		dbFromWeb    = pol("prod", "db-from-web", sel("app", "db"), ingressRules(from(podPeer(sel("app", "web")))))
		fromStaging  = pol("prod", "from-staging", sel(), ingressRules(from(nsPeer(sel("tier", "staging")))))
		stagingWeb1  = pol("prod", "staging-web", sel(), ingressRules(from(nsPodPeer(sel("tier", "staging"), sel("app", "web")))))
		orPeers      = pol("prod", "or-peers", sel("app", "db"), ingressRules(from(nsPeer(sel("tier", "staging")), podPeer(sel("app", "web")))))
		sameNS       = pol("prod", "same-ns", sel(), ingressRules(from(podPeer(sel()))))
		anyNS        = pol("prod", "any-ns", sel(), ingressRules(from(nsPeer(sel()))))
		webAnywhere  = pol("prod", "web-anywhere", sel("app", "db"), ingressRules(from(nsPodPeer(sel(), sel("app", "web")))))
		fromNet4     = pol("prod", "from-net4", sel("app", "web"), ingressRules(from(block("203.0.113.0/24", "203.0.113.128/25"))))
		fromNet6     = pol("prod", "from-net6", sel("app", "web"), ingressRules(from(block("2001:db8::/32", "2001:db8::ff:0/112"))))
		fromAllV4    = pol("prod", "from-all-v4", sel(), ingressRules(from(block("0.0.0.0/0"))))
		fromAllAddrs = pol("prod", "from-all-addrs", sel(), ingressRules(from(block("0.0.0.0/0"), block("::/0"))))
		fromPodNet   = pol("prod", "from-pod-net", sel(), ingressRules(from(block("10.2.0.0/16"))))
		exprPeer     = func(op metav1.LabelSelectorOperator, vals ...string) np {
			return pol("prod", "expr-"+strings.ToLower(string(op)), sel("app", "db"),
				ingressRules(from(nsPodPeer(sel(), expr("env", op, vals...)))))
		}
		inPeer      = pol("prod", "expr-in", sel("app", "db"), ingressRules(from(nsPodPeer(sel(), expr("app", metav1.LabelSelectorOpIn, "web", "worker")))))
		isoNotInWeb = pol("prod", "iso-not-web", expr("app", metav1.LabelSelectorOpNotIn, "web"))
		onlyPorts   = func(ports ...npPort) np { return pol("prod", "ports", sel(), ingressRules(onPorts(ports...))) }
		egressHTTP  = pol("staging", "egress-http", sel("app", "web"), egressRules(egRule{Ports: []npPort{namedPort("", "http")}}))
		egressProd  = pol("staging", "egress-prod", sel(), egressRules(to(nsPeer(sel("tier", "prod")))))
		internet    = pol("prod", "internet", sel(), types("Egress"), egressRules(to(block("0.0.0.0/0", "10.0.0.0/8"))))
		allowInProd = pol("prod", "allow-in", sel(), ingressRules(inRule{}))
		denyEgStage = pol("staging", "deny-egress", sel(), types("Egress"))
		sameTierMon = pol("prod", "allow-prod-and-monitoring", sel(), ingressRules(from(nsPeer(sel("tier", "prod")), nsPeer(sel("purpose", "monitoring")))))
		fromProd    = pol("prod", "allow-from-prod", sel(), ingressRules(from(nsPeer(sel("tier", "prod")))))
		debugAll    = pol("prod", "zz-debug-allow-all", sel(), ingressRules(inRule{}))
	)

	cases := []struct {
		name     string
		policies []np
		from, to Endpoint
		port     Port
		want     bool
		iso      string
		in, eg   []string
	}{
		// Selection and isolation.
		{name: "no policies: everything allowed", from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "podSelector leaves unselected pod open", policies: []np{pol("prod", "deny-db", sel("app", "db"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "podSelector isolates selected pod", policies: []np{pol("prod", "deny-db", sel("app", "db"))},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 5432), iso: isoIn},
		{name: "empty podSelector selects every pod of its namespace", policies: []np{denyAllProd},
			from: ep(stagingWeb), to: ep(prodWorker), port: p(tcp, 80), iso: isoIn},
		{name: "policy never selects pods of another namespace", policies: []np{pol("staging", "deny-all", sel())},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "podSelector with NotIn isolates only non-matching pods", policies: []np{isoNotInWeb},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "podSelector with NotIn isolates pod with other value", policies: []np{isoNotInWeb},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},

		// policyTypes defaulting.
		{name: "empty policyTypes with egress rules implies Ingress too", policies: []np{egressDNS},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "empty policyTypes with egress rules implies Egress: rule allows", policies: []np{egressDNS},
			from: ep(prodWeb), to: ep(stagingWeb), port: p(udp, 53), want: true, iso: isoEg, eg: []string{"prod/egress-dns"}},
		{name: "empty policyTypes with egress rules implies Egress: other port denied", policies: []np{egressDNS},
			from: ep(prodWeb), to: ep(stagingWeb), port: p(tcp, 80), iso: isoEg},
		{name: "empty policyTypes without egress rules does not imply Egress", policies: []np{denyAllProd},
			from: ep(prodWeb), to: ep(stagingWeb), port: p(tcp, 80), want: true},
		{name: "Egress-only policyTypes leaves ingress open", policies: []np{egressOnly},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "Egress-only policy with no rules denies egress", policies: []np{egressOnly},
			from: ep(prodWeb), to: ep(stagingWeb), port: p(tcp, 80), iso: isoEg},
		{name: "Egress-only policyTypes ignores ingress rules in spec", policies: []np{pol("prod", "eg-with-ingress", sel(), types("Egress"),
			ingressRules(from(podPeer(sel("app", "nothing")))), egressRules(egRule{}))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true},
		{name: "Ingress and Egress with no rules isolate both directions", policies: []np{pol("prod", "lockdown", sel(), types("Ingress", "Egress"))},
			from: ep(prodWeb), to: ep(prodDB), port: p(tcp, 80), iso: isoBoth},

		// Absent vs empty rule lists, rules without peers or ports.
		{name: "absent ingress list with Ingress type allows nothing", policies: []np{pol("prod", "nil-ingress", sel(), types("Ingress"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "empty ingress list (present, zero rules) allows nothing", policies: []np{pol("prod", "empty-ingress", sel(), ingressRules())},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "rule without peers matches any source, external too", policies: []np{web80},
			from: ext4, to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/web-80"}},
		{name: "rule without peers still restricts ports", policies: []np{web80},
			from: ext4, to: ep(prodWeb), port: p(tcp, 81), iso: isoIn},
		{name: "ingress [{}] allows every source and port", policies: []np{allowInProd},
			from: ext6, to: ep(prodDB), port: p(udp, 9999), want: true, iso: isoIn, in: []string{"prod/allow-in"}},

		// Additive policies.
		{name: "additive: a second policy allows what the first denies", policies: []np{denyAllProd, pol("prod", "allow-staging", sel("app", "web"), ingressRules(from(nsPeer(sel("tier", "staging")))))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/allow-staging"}},
		{name: "additive: every allowing policy is listed, sorted", policies: []np{fromStaging, pol("prod", "a-port-80", sel("app", "web"), ingressRules(onPorts(port(tcp, 80))))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/a-port-80", "prod/from-staging"}},

		// Peers: podSelector, namespaceSelector, both.
		{name: "podSelector peer matches pod of the policy namespace", policies: []np{dbFromWeb},
			from: ep(prodWeb), to: ep(prodDB), port: p(tcp, 5432), want: true, iso: isoIn, in: []string{"prod/db-from-web"}},
		{name: "podSelector peer ignores same labels in another namespace", policies: []np{dbFromWeb},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 5432), iso: isoIn},
		{name: "podSelector peer rejects other labels", policies: []np{dbFromWeb},
			from: ep(prodWorker), to: ep(prodDB), port: p(tcp, 5432), iso: isoIn},
		{name: "namespaceSelector peer admits every pod of matching namespace", policies: []np{fromStaging},
			from: ep(stagingJob), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/from-staging"}},
		{name: "namespaceSelector peer rejects other namespace", policies: []np{fromStaging},
			from: ep(devTool), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "namespaceSelector peer does not imply the policy namespace", policies: []np{fromStaging},
			from: ep(prodWorker), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "namespaceSelector AND podSelector in one peer: both match", policies: []np{stagingWeb1},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/staging-web"}},
		{name: "namespaceSelector AND podSelector: pod labels differ", policies: []np{stagingWeb1},
			from: ep(stagingJob), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "namespaceSelector AND podSelector: namespace differs", policies: []np{stagingWeb1},
			from: ep(prodWeb), to: ep(prodWorker), port: p(tcp, 80), iso: isoIn},
		{name: "separate peers are ORed: namespace peer", policies: []np{orPeers},
			from: ep(stagingJob), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/or-peers"}},
		{name: "separate peers are ORed: pod peer", policies: []np{orPeers},
			from: ep(prodWeb), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/or-peers"}},

		// Empty vs absent selectors in peers.
		{name: "empty podSelector peer admits every pod of the policy namespace", policies: []np{sameNS},
			from: ep(prodWorker), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/same-ns"}},
		{name: "empty podSelector peer stays in the policy namespace", policies: []np{sameNS},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "empty namespaceSelector peer admits every namespace, unlisted too", policies: []np{anyNS},
			from: ep(legacyWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/any-ns"}},
		{name: "empty namespaceSelector peer does not admit external addresses", policies: []np{anyNS},
			from: ext4, to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "empty namespaceSelector with podSelector: matching pods anywhere", policies: []np{webAnywhere},
			from: ep(legacyWeb), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/web-anywhere"}},
		{name: "empty namespaceSelector with podSelector: other pods rejected", policies: []np{webAnywhere},
			from: ep(monProm), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},
		{name: "namespaces carry the implicit kubernetes.io/metadata.name label", policies: []np{pol("prod", "by-name", sel(), ingressRules(from(nsPeer(sel("kubernetes.io/metadata.name", "monitoring")))))},
			from: ep(monProm), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/by-name"}},
		{name: "namespace missing from the snapshot still has its name label", policies: []np{pol("prod", "by-name", sel(), ingressRules(from(nsPeer(sel("kubernetes.io/metadata.name", "legacy")))))},
			from: ep(legacyWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/by-name"}},

		// matchExpressions operators.
		{name: "matchExpressions In matches listed value", policies: []np{inPeer},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/expr-in"}},
		{name: "matchExpressions In rejects other value", policies: []np{inPeer},
			from: ep(stagingJob), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},
		{name: "matchExpressions NotIn rejects listed value", policies: []np{exprPeer(metav1.LabelSelectorOpNotIn, "qa")},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},
		{name: "matchExpressions NotIn matches absent key", policies: []np{exprPeer(metav1.LabelSelectorOpNotIn, "qa")},
			from: ep(stagingJob), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/expr-notin"}},
		{name: "matchExpressions Exists matches present key", policies: []np{exprPeer(metav1.LabelSelectorOpExists)},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/expr-exists"}},
		{name: "matchExpressions Exists rejects absent key", policies: []np{exprPeer(metav1.LabelSelectorOpExists)},
			from: ep(stagingJob), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},
		{name: "matchExpressions DoesNotExist matches absent key", policies: []np{exprPeer(metav1.LabelSelectorOpDoesNotExist)},
			from: ep(stagingJob), to: ep(prodDB), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/expr-doesnotexist"}},
		{name: "matchExpressions DoesNotExist rejects present key", policies: []np{exprPeer(metav1.LabelSelectorOpDoesNotExist)},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 80), iso: isoIn},

		// ipBlock.
		{name: "ipBlock v4 admits address inside cidr", policies: []np{fromNet4},
			from: ext4, to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/from-net4"}},
		{name: "ipBlock v4 rejects address inside except", policies: []np{fromNet4},
			from: ext4Except, to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ipBlock v4 rejects address outside cidr", policies: []np{fromNet4},
			from: ext4Outside, to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ipBlock v6 admits address inside cidr", policies: []np{fromNet6},
			from: ext6, to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/from-net6"}},
		{name: "ipBlock v6 rejects address inside except", policies: []np{fromNet6},
			from: ext6Except, to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ipBlock v4 never matches a v6 address", policies: []np{fromAllV4},
			from: ext6, to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ipBlock v4 never matches a v6 pod", policies: []np{fromAllV4},
			from: ep(devTool), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ipBlock matches a pod by its IP", policies: []np{fromPodNet},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/from-pod-net"}},
		{name: "ipBlock never matches a pod without IP", policies: []np{fromAllAddrs},
			from: ep(prodNoIP), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},

		// Ports.
		{name: "port protocol defaults to TCP", policies: []np{onlyPorts(port("", 53))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 53), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "defaulted TCP port does not admit UDP", policies: []np{onlyPorts(port("", 53))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 53), iso: isoIn},
		{name: "query protocol defaults to TCP", policies: []np{onlyPorts(port(tcp, 53))},
			from: ep(stagingWeb), to: ep(prodWeb), port: Port{Port: 53}, want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "UDP port admits UDP", policies: []np{onlyPorts(port(udp, 53))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 53), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "UDP port does not admit TCP", policies: []np{onlyPorts(port(udp, 53))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 53), iso: isoIn},
		{name: "SCTP port admits SCTP", policies: []np{onlyPorts(port(sctp, 3868))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(sctp, 3868), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "SCTP port does not admit TCP", policies: []np{onlyPorts(port(sctp, 3868))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 3868), iso: isoIn},
		{name: "endPort range includes its start", policies: []np{onlyPorts(portRange("", 8000, 8100))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 8000), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "endPort range includes its end", policies: []np{onlyPorts(portRange("", 8000, 8100))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 8100), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "endPort range excludes port below", policies: []np{onlyPorts(portRange("", 8000, 8100))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 7999), iso: isoIn},
		{name: "endPort range excludes port above", policies: []np{onlyPorts(portRange("", 8000, 8100))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 8101), iso: isoIn},
		{name: "protocol without port admits every port of it", policies: []np{onlyPorts(protoOnly(udp))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 65535), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "protocol without port admits no other protocol", policies: []np{onlyPorts(protoOnly(udp))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "ports: [{}] means every TCP port", policies: []np{onlyPorts(npPort{})},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 22), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "ports: [{}] admits no UDP", policies: []np{onlyPorts(npPort{})},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 22), iso: isoIn},
		{name: "named port resolves on destination pod", policies: []np{onlyPorts(namedPort("", "http"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 8080), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "named port does not match another pod's number", policies: []np{onlyPorts(namedPort("", "http"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 9000), iso: isoIn},
		{name: "named port resolves per destination pod", policies: []np{onlyPorts(namedPort("", "http"))},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 9000), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "named port with default TCP ignores a UDP container port", policies: []np{onlyPorts(namedPort("", "dns"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 53), iso: isoIn},
		{name: "named port does not resolve to a container port of another protocol", policies: []np{onlyPorts(namedPort(tcp, "dns"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 53), iso: isoIn},
		{name: "named port with matching protocol resolves", policies: []np{onlyPorts(namedPort(udp, "dns"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(udp, 53), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "container port protocol defaults to TCP", policies: []np{onlyPorts(namedPort(tcp, "metrics"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 9090), want: true, iso: isoIn, in: []string{"prod/ports"}},
		{name: "unresolvable named port matches nothing", policies: []np{onlyPorts(namedPort("", "grpc"))},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 8080), iso: isoIn},
		{name: "egress named port resolves on destination pod", policies: []np{egressHTTP},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 9000), want: true, iso: isoEg, eg: []string{"staging/egress-http"}},
		{name: "egress named port is not the source pod's", policies: []np{egressHTTP},
			from: ep(stagingWeb), to: ep(prodDB), port: p(tcp, 8080), iso: isoEg},
		{name: "named port never resolves on an external address", policies: []np{egressHTTP},
			from: ep(stagingWeb), to: ext4, port: p(tcp, 8080), iso: isoEg},

		// Egress and both directions.
		{name: "egress allowed to selected namespace", policies: []np{egressProd},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoEg, eg: []string{"staging/egress-prod"}},
		{name: "egress denied to other namespace", policies: []np{egressProd},
			from: ep(stagingWeb), to: ep(devTool), port: p(tcp, 80), iso: isoEg},
		{name: "egress ipBlock admits external address", policies: []np{internet},
			from: ep(prodWeb), to: ext4, port: p(tcp, 443), want: true, iso: isoEg, eg: []string{"prod/internet"}},
		{name: "egress ipBlock except excludes pod network", policies: []np{internet},
			from: ep(prodWeb), to: ep(stagingWeb), port: p(tcp, 443), iso: isoEg},
		{name: "external destination is never ingress-isolated", policies: []np{denyAllProd},
			from: ep(stagingWeb), to: ext4, port: p(tcp, 443), want: true},
		{name: "ingress allows but source egress denies", policies: []np{allowInProd, denyEgStage},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoBoth, in: []string{"prod/allow-in"}},

		// Scenarios.
		{name: "deny-all then allow by namespace label: other tier denied", policies: []np{denyAllProd, sameTierMon},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), iso: isoIn},
		{name: "deny-all then allow by namespace label: monitoring allowed", policies: []np{denyAllProd, sameTierMon},
			from: ep(monProm), to: ep(prodWeb), port: p(tcp, 9090), want: true, iso: isoIn, in: []string{"prod/allow-prod-and-monitoring"}},
		{name: "deny-all then allow by namespace label: same tier allowed", policies: []np{denyAllProd, sameTierMon},
			from: ep(prodWorker), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/allow-prod-and-monitoring"}},
		{name: "allow-all foreign policy opens a hole for another tier", policies: []np{denyAllProd, fromProd, debugAll},
			from: ep(stagingWeb), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn, in: []string{"prod/zz-debug-allow-all"}},
		{name: "allow-all foreign policy is listed next to the intended one", policies: []np{denyAllProd, fromProd, debugAll},
			from: ep(prodWorker), to: ep(prodWeb), port: p(tcp, 80), want: true, iso: isoIn,
			in: []string{"prod/allow-from-prod", "prod/zz-debug-allow-all"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newFixture(t, tc.policies...)
			v := e.Allowed(tc.from, tc.to, tc.port)
			if v.Allowed != tc.want {
				t.Errorf("Allowed = %v, want %v (%s)", v.Allowed, tc.want, v.Reason)
			}
			iso := isoNone
			switch {
			case v.IngressIsolated && v.EgressIsolated:
				iso = isoBoth
			case v.IngressIsolated:
				iso = isoIn
			case v.EgressIsolated:
				iso = isoEg
			}
			if iso != tc.iso {
				t.Errorf("isolation = %q, want %q (%s)", iso, tc.iso, v.Reason)
			}
			if !sameList(v.IngressPolicies, tc.in) {
				t.Errorf("IngressPolicies = %v, want %v", v.IngressPolicies, tc.in)
			}
			if !sameList(v.EgressPolicies, tc.eg) {
				t.Errorf("EgressPolicies = %v, want %v", v.EgressPolicies, tc.eg)
			}
			if v.Allowed != (v.IngressAllowed && v.EgressAllowed) {
				t.Errorf("Allowed %v disagrees with IngressAllowed %v && EgressAllowed %v", v.Allowed, v.IngressAllowed, v.EgressAllowed)
			}
			if !strings.HasPrefix(v.Reason, map[bool]string{true: "allowed: ", false: "denied: "}[v.Allowed]) {
				t.Errorf("Reason %q does not start with the verdict", v.Reason)
			}
		})
	}
}

func TestAllowedReasonNamesTheBlockingSide(t *testing.T) {
	e := newFixture(t, pol("prod", "allow-in", sel(), ingressRules(inRule{})), pol("staging", "deny-egress", sel(), types("Egress")))
	v := e.Allowed(ep(stagingWeb), ep(prodWeb), p(tcp, 80))
	if !v.IngressAllowed || v.EgressAllowed {
		t.Fatalf("IngressAllowed=%v EgressAllowed=%v, want true/false", v.IngressAllowed, v.EgressAllowed)
	}
	for _, want := range []string{"pod staging/web", "staging/deny-egress", "TCP/80"} {
		if !strings.Contains(v.Reason, want) {
			t.Errorf("Reason %q lacks %q", v.Reason, want)
		}
	}
}

func TestLookupPod(t *testing.T) {
	e := newFixture(t)
	got, ok := e.LookupPod("prod", "db")
	if !ok {
		t.Fatal("prod/db not found")
	}
	if pod, _ := got.Pod(); pod.IP != prodDB.IP {
		t.Errorf("LookupPod returned IP %q, want %q", pod.IP, prodDB.IP)
	}
	if _, ok := e.LookupPod("prod", "missing"); ok {
		t.Error("missing pod found")
	}
	if _, ok := IPEndpoint("192.0.2.1").Pod(); ok {
		t.Error("IP endpoint claims to be a pod")
	}
}
