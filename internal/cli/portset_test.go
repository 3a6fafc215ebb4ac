package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
)

func tcp(from, to int32) evaluate.PortRange {
	return evaluate.PortRange{Protocol: corev1.ProtocolTCP, From: from, To: to}
}

func udp(from, to int32) evaluate.PortRange {
	return evaluate.PortRange{Protocol: corev1.ProtocolUDP, From: from, To: to}
}

func TestPorts(t *testing.T) {
	a := intent.NewPorts([]evaluate.PortRange{udp(53, 53), tcp(100, 200), tcp(201, 300), tcp(150, 160)})
	if want := (ports{tcp(100, 300), udp(53, 53)}); !a.Equal(want) {
		t.Fatalf("newPorts = %v, want %v: merged and in PortSet order", a, want)
	}
	cases := []struct {
		name      string
		got, want ports
	}{
		{"minus a hole", a.Minus(ports{tcp(150, 150)}), ports{tcp(100, 149), tcp(151, 300), udp(53, 53)}},
		{"minus everything", a.Minus(intent.AllPorts()), nil},
		{"intersect", a.Intersect(ports{tcp(1, 120), udp(1, 65535)}), ports{tcp(100, 120), udp(53, 53)}},
		{"union with all", a.Union(intent.AllPorts()), intent.AllPorts()},
	}
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	for set, want := range map[string]string{
		cell(intent.AllPorts()): "allow", cell(ports(nil)): "deny", cell(a): "TCP/100-300,UDP/53",
		phrase(intent.AllPorts()): "all ports", phrase(a): "TCP/100-300, UDP/53",
	} {
		if set != want {
			t.Errorf("got %q, want %q", set, want)
		}
	}
}
