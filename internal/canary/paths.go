// Package canary holds the enforcement canary's pure parts: which paths a
// round tries for a profile, what the probe pods run, and the verdict.
package canary

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Ports every canary server listens on besides the flows' ports: one TCP
// and one UDP port no flow needs to list, so that a boundary is tried on a
// port the profile never opens.
const (
	ClosedTCPPort int32 = 8080
	ClosedUDPPort int32 = 8053
)

// MaxPaths bounds the paths of a round (status.canary.rounds[].paths).
const MaxPaths = 64

// Path is one path a round tries: from a canary namespace of a tier (or
// the shared one) to another, on a port.
type Path struct {
	From, To string // tier names, or segv1.CanarySharedSuffix
	Protocol corev1.Protocol
	Port     int32
	// Allowed says whether the profile allows the path.
	Allowed bool
}

func (p Path) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", p.From, p.To, p.Protocol, p.Port)
}

// Paths returns what a round tries for the profile, at most MaxPaths:
//   - for every tier, a forbidden path into it from another tier that has
//     no flow to it, on TCP and UDP;
//   - for every flow, its first numbered port (allowed) and, unless the flow
//     lists it, ClosedTCPPort (forbidden);
//   - from the shared namespace into every tier (allowed), on TCP and UDP;
//   - inside every tier isolated by Tier, between its canary namespace and
//     itself is not a boundary, so nothing is tried there.
//
// Forbidden paths come first, so that a bound never drops them.
func Paths(p *segv1.SegmentationProfile) []Path {
	var forbidden, allowed []Path
	flows := map[[2]string][]segv1.NetworkPolicyPort{}
	hasFlow := map[[2]string]bool{}
	for _, f := range p.Spec.Flows {
		key := [2]string{string(f.From), string(f.To)}
		hasFlow[key] = true
		flows[key] = append(flows[key], f.Ports...)
	}
	for _, to := range p.Spec.Tiers {
		for _, from := range p.Spec.Tiers {
			if from.Name == to.Name || hasFlow[[2]string{string(from.Name), string(to.Name)}] {
				continue
			}
			forbidden = append(forbidden,
				Path{From: string(from.Name), To: string(to.Name), Protocol: corev1.ProtocolTCP, Port: ClosedTCPPort},
				Path{From: string(from.Name), To: string(to.Name), Protocol: corev1.ProtocolUDP, Port: ClosedUDPPort})
			break
		}
		allowed = append(allowed,
			Path{From: segv1.CanarySharedSuffix, To: string(to.Name), Protocol: corev1.ProtocolTCP, Port: ClosedTCPPort, Allowed: true},
			Path{From: segv1.CanarySharedSuffix, To: string(to.Name), Protocol: corev1.ProtocolUDP, Port: ClosedUDPPort, Allowed: true})
	}
	for _, f := range p.Spec.Flows {
		from, to := string(f.From), string(f.To)
		ports := flows[[2]string{from, to}]
		if len(ports) == 0 {
			allowed = append(allowed, Path{From: from, To: to, Protocol: corev1.ProtocolTCP, Port: ClosedTCPPort, Allowed: true})
			continue
		}
		if port, proto, ok := firstNumbered(ports); ok {
			allowed = append(allowed, Path{From: from, To: to, Protocol: proto, Port: port, Allowed: true})
		}
		if !listsPort(ports, corev1.ProtocolTCP, ClosedTCPPort) {
			forbidden = append(forbidden, Path{From: from, To: to, Protocol: corev1.ProtocolTCP, Port: ClosedTCPPort})
		}
	}
	out := append(dedup(forbidden), dedup(allowed)...)
	if len(out) > MaxPaths {
		out = out[:MaxPaths]
	}
	return out
}

// ServerPorts returns the ports the canary servers listen on for the paths.
func ServerPorts(paths []Path) (tcp, udp []int32) {
	for _, p := range paths {
		switch p.Protocol {
		case corev1.ProtocolUDP:
			if !slices.Contains(udp, p.Port) {
				udp = append(udp, p.Port)
			}
		default:
			if !slices.Contains(tcp, p.Port) {
				tcp = append(tcp, p.Port)
			}
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	return tcp, udp
}

func firstNumbered(ports []segv1.NetworkPolicyPort) (int32, corev1.Protocol, bool) {
	for _, p := range ports {
		if p.Port == nil || p.Port.Type != intstr.Int {
			continue
		}
		proto := protocol(p.Protocol)
		if proto == corev1.ProtocolSCTP {
			continue
		}
		return p.Port.IntVal, proto, true
	}
	return 0, "", false
}

func listsPort(ports []segv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	for _, p := range ports {
		if protocol(p.Protocol) != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.Int {
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if port >= p.Port.IntVal && port <= end {
				return true
			}
		}
	}
	return false
}

func dedup(paths []Path) []Path {
	var out []Path
	for _, p := range paths {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// protocol defaults an empty protocol to TCP.
func protocol(p segv1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return corev1.Protocol(p)
}
