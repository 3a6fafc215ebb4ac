// Package harness is what the suites, the benchmark (test/bench) and the
// demo (hack/demo) share to run Tierguard as its users do:
//
//   - Process: a child process that dies with its parent, logs to a file,
//     stops with SIGTERM then SIGKILL, and can be restarted;
//   - FreePorts, HTTPGet, WaitFor: loopback ports, plain HTTP, and waiting
//     on a condition while watching a process;
//   - the control plane binaries of `make envtest-assets` (ResolveAssetsDir,
//     CheckAssets) and StartEnvtest, the one envtest boot of the envtest
//     suites;
//   - GoBuild, StartManager: the manager built from ./cmd/manager, run as a
//     separate process under its ServiceAccount;
//   - Kubectl, InstallCRD, InstallRBAC, InstallAdmissionPolicy: config/
//     installed with kubectl, as a user installs it, under config/default's
//     names;
//   - ParseMetrics and ReadAudit, to read the manager's metrics and the API
//     server's audit log.
//
// test/controlplane starts the control plane on these processes. Nothing
// here depends on Ginkgo or Gomega: functions return errors.
package harness
