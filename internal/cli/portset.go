package cli

import (
	"strings"

	"github.com/tierguard/tierguard/internal/intent"
)

// ports is a set of ports; internal/intent holds the set operations.
type ports = intent.Ports

// cell is the set as a matrix cell shows it: allow, deny, or the ranges.
func cell(p ports) string {
	switch {
	case p.All():
		return "allow"
	case p.Empty():
		return "deny"
	}
	return strings.Join(p.Strings(), ",")
}

// phrase is the set in a sentence: "all ports", "no port", or the ranges.
func phrase(p ports) string {
	switch {
	case p.All():
		return "all ports"
	case p.Empty():
		return "no port"
	}
	return strings.Join(p.Strings(), ", ")
}
