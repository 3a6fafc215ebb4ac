// Package framework installs Tierguard on a local control plane
// (test/controlplane) the way an operator would, and runs the manager binary
// as a separate process under its least-privilege ServiceAccount. The
// end-to-end suite (test/e2e) and the demo (hack/demo) share it, so the demo
// shows exactly what the suite tests.
//
// Nothing here depends on Ginkgo or Gomega: functions return errors, and a
// Kubectl can echo what it runs for a person to read.
package framework
