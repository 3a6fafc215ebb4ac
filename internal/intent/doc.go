// Package intent states what a SegmentationProfile means to allow between
// namespaces, port by port: the reference that leak detection
// (internal/leaks) and the kubectl plugin's matrix (internal/cli) compare
// the evaluated NetworkPolicies with, so that the controller and the
// plugin judge a cluster alike.
//
// It is pure: it reads the profile, render's plan and the namespaces'
// labels, and talks to no cluster. Ports are evaluate.PortSet values, the
// same type the evaluator answers in; a flow's named port stays a name
// (some port of its protocol), as the evaluator reports named ports.
package intent
