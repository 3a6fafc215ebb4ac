package cli

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tierguard/tierguard/internal/evaluate"
)

func TestCellAndPhrase(t *testing.T) {
	some := evaluate.NewPortSet([]evaluate.PortRange{
		{Protocol: corev1.ProtocolUDP, From: 53, To: 53}, {Protocol: corev1.ProtocolTCP, From: 100, To: 300},
	}, []evaluate.PortName{{Protocol: corev1.ProtocolTCP, Name: "https"}})
	for got, want := range map[string]string{
		cell(evaluate.AllPorts()): "allow", cell(evaluate.PortSet{}): "deny", cell(some): `TCP/100-300,UDP/53,TCP/"https"`,
		phrase(evaluate.AllPorts()): "all ports", phrase(evaluate.PortSet{}): "no port", phrase(some): `TCP/100-300, UDP/53, TCP/"https"`,
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
