package canary

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

func sample() *segv1.SegmentationProfile {
	p := &segv1.SegmentationProfile{}
	p.Name = "company"
	p.Spec.Tiers = []segv1.Tier{{Name: "dev"}, {Name: "test"}, {Name: "prod", Isolation: segv1.IsolationNamespace}}
	p.Spec.Flows = []segv1.Flow{{From: "dev", To: "test", Ports: []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))}}}}
	return p
}

// TestPaths covers every kind of rule Tierguard writes: a boundary into
// every tier, the flow on its port and off it, and the shared namespace.
func TestPaths(t *testing.T) {
	got := map[string]bool{}
	for _, p := range Paths(sample()) {
		got[p.String()] = p.Allowed
	}
	want := map[string]bool{
		"test -> dev TCP/8080": false, "test -> dev UDP/8053": false,
		"prod -> test TCP/8080": false, "prod -> test UDP/8053": false,
		"dev -> prod TCP/8080": false, "dev -> prod UDP/8053": false,
		"dev -> test TCP/8080":   false,
		"dev -> test TCP/443":    true,
		"shared -> dev TCP/8080": true, "shared -> dev UDP/8053": true,
		"shared -> test TCP/8080": true, "shared -> test UDP/8053": true,
		"shared -> prod TCP/8080": true, "shared -> prod UDP/8053": true,
	}
	if len(got) != len(want) {
		t.Errorf("paths = %v, want %v", got, want)
	}
	for k, v := range want {
		if a, ok := got[k]; !ok || a != v {
			t.Errorf("path %s: allowed %v (present %v), want allowed %v", k, a, ok, v)
		}
	}
	tcp, udp := ServerPorts(Paths(sample()))
	if len(tcp) != 2 || tcp[0] != 443 || tcp[1] != 8080 || len(udp) != 1 || udp[0] != 8053 {
		t.Errorf("server ports tcp %v udp %v", tcp, udp)
	}
}

// TestPathsBounded keeps forbidden paths when a large profile hits MaxPaths.
func TestPathsBounded(t *testing.T) {
	p := &segv1.SegmentationProfile{}
	for i := range 32 {
		p.Spec.Tiers = append(p.Spec.Tiers, segv1.Tier{Name: segv1.TierName("t" + string(rune('a'+i%26)) + string(rune('a'+i/26)))})
	}
	paths := Paths(p)
	if len(paths) != MaxPaths {
		t.Fatalf("%d paths, want %d", len(paths), MaxPaths)
	}
	for _, path := range paths {
		if path.Allowed {
			t.Fatalf("an allowed path %s kept while forbidden ones were dropped", path)
		}
	}
}

func TestVerdict(t *testing.T) {
	forbidden := Path{From: "dev", To: "prod", Protocol: corev1.ProtocolTCP, Port: 8080}
	allowed := Path{From: "shared", To: "prod", Protocol: corev1.ProtocolTCP, Port: 8080, Allowed: true}
	for _, c := range []struct {
		name   string
		obs    []Observation
		result string
		msg    string
	}{
		{"enforced", []Observation{{Path: forbidden}, {Path: allowed, Open: true}}, segv1.CanaryEnforced, "1 forbidden paths blocked"},
		{"not enforced", []Observation{{Path: forbidden, Open: true, Node: "n1"}, {Path: allowed, Open: true}}, segv1.CanaryNotEnforced,
			"your network plugin does not enforce NetworkPolicies: the canary got through dev -> prod TCP/8080, which the profile forbids, from node n1"},
		{"not enforced beats inconclusive", []Observation{{Path: forbidden, Open: true}, {Path: allowed}}, segv1.CanaryNotEnforced, "does not enforce"},
		{"inconclusive", []Observation{{Path: forbidden}, {Path: allowed}}, segv1.CanaryInconclusive, "proves nothing"},
		{"nothing tried", nil, segv1.CanaryInconclusive, "no forbidden or no allowed path"},
	} {
		result, msg := Verdict(c.obs, "NetworkPolicies")
		if result != c.result || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", c.name, result, msg, c.result, c.msg)
		}
	}
}

// TestServeDial runs a server and a client on loopback: the expected name
// opens a path, another name or no server does not.
func TestServeDial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := int32(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "tg-canary-company-dev", []int32{port}, []int32{port}) }()
	time.Sleep(200 * time.Millisecond)
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	got := Dial([]Target{
		{Protocol: "tcp", Addr: addr, Expect: "tg-canary-company-dev"},
		{Protocol: "udp", Addr: addr, Expect: "tg-canary-company-dev"},
		{Protocol: "tcp", Addr: addr, Expect: "someone-else"},
		{Protocol: "tcp", Addr: net.JoinHostPort("127.0.0.1", "1"), Expect: "tg-canary-company-dev"},
	}, time.Second)
	if got != "1100" {
		t.Errorf("Dial = %q, want 1100", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTarget("tcp:10.0.0.1:80=x"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"tcp:10.0.0.1:80", "icmp:10.0.0.1:80=x", "tcp:10.0.0.1=x"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }
