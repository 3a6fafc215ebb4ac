package intent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
)

// FlowPorts converts a flow's ports; no ports is every port. A named port
// cannot be resolved without the pods, so it stays a name: some port of its
// protocol, never all of them, as evaluate.NamespacePorts reports the
// policies' named ports. A foreign policy opening the same name then opens
// nothing beyond the intent, and one opening TCP/22 beside a flow on the
// name https opens TCP/22.
func FlowPorts(in []segv1.NetworkPolicyPort) evaluate.PortSet {
	if len(in) == 0 {
		return evaluate.AllPorts()
	}
	var ranges []evaluate.PortRange
	var names []evaluate.PortName
	for _, p := range in {
		proto := corev1.Protocol(p.Protocol)
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		switch {
		case p.Port == nil:
			ranges = append(ranges, evaluate.PortRange{Protocol: proto, From: 1, To: 65535})
		case p.Port.Type == intstr.String:
			names = append(names, evaluate.PortName{Protocol: proto, Name: p.Port.StrVal})
		default:
			r := evaluate.PortRange{Protocol: proto, From: p.Port.IntVal, To: p.Port.IntVal}
			if p.EndPort != nil {
				r.To = *p.EndPort
			}
			ranges = append(ranges, r)
		}
	}
	return evaluate.NewPortSet(ranges, names)
}
