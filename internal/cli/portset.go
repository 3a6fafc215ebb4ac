package cli

import (
	"strings"

	"github.com/tierguard/tierguard/internal/evaluate"
)

// cell is the set as a matrix cell shows it: allow, deny, or the ports.
func cell(p evaluate.PortSet) string {
	switch {
	case p.All():
		return "allow"
	case p.Empty():
		return "deny"
	}
	return strings.Join(p.Strings(), ",")
}

// phrase is the set in a sentence: "all ports", "no port", or the ports.
func phrase(p evaluate.PortSet) string {
	switch {
	case p.All():
		return "all ports"
	case p.Empty():
		return "no port"
	}
	return strings.Join(p.Strings(), ", ")
}
