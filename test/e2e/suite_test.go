// Package e2e_test tests Tierguard end to end: the manager binary runs as a
// separate process, under a ServiceAccount bound only to the ClusterRole
// generated into config/rbac and the leader election Role, against a local
// control plane (etcd, kube-apiserver with RBAC and audit logging,
// kube-controller-manager). The tests act as users and GitOps tools do:
// through kubectl and the API.
//
// Every spec owns its namespaces and its profile (a distinct tierLabelKey
// and selectors), so specs run in any order. The suite fails a spec when a
// manager logged "forbidden" or the API server denied it a request during it.
package e2e_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
)

// Suite-wide state, set up once in BeforeSuite.
var (
	// cp is the local control plane.
	cp *controlplane.ControlPlane
	// workDir holds the manager binary, logs, the audit log and overlays.
	workDir string
	// repoRoot is the repository root (config/ lives there).
	repoRoot string
	// kubectl acts as the cluster admin and echoes to GinkgoWriter.
	kubectl harness.Kubectl
	// k8s and clientset are the tests' own admin clients.
	k8s       client.Client
	clientset kubernetes.Interface
	// managerBin is the manager built from ./cmd/manager.
	managerBin string
	// managerKubeconfig is the token kubeconfig of the manager's ServiceAccount.
	managerKubeconfig string
	// managers are the manager processes; main is the one most specs use.
	managers = &managerSet{}
)

// Timeouts. The manager reacts within a second; the margins cover a loaded
// 2-core machine.
const (
	timeout  = 30 * time.Second
	interval = 200 * time.Millisecond
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(harness.CheckAssets(harness.ResolveAssetsDir(""))).To(Succeed(),
		"the control plane binaries are missing: run the suite with `make test-e2e` or `make test`, which build them with `make envtest-assets`")

	var err error
	repoRoot, err = harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	workDir = GinkgoT().TempDir()

	// The manager builds while the control plane starts.
	managerBin = filepath.Join(workDir, "manager")
	built := make(chan error, 1)
	go func() {
		built <- harness.GoBuild(context.WithoutCancel(ctx), repoRoot, harness.ManagerPackage, managerBin)
	}()

	began := time.Now()
	cp, err = controlplane.Start(ctx, controlplane.Options{
		AuditPolicy: harness.AuditPolicy,
		Logf:        func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(cp.Stop()).To(Succeed())
	})
	GinkgoWriter.Printf("Control plane ready in %s\n", time.Since(began).Round(time.Millisecond))

	k8s, err = harness.NewClient(cp.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	clientset = cp.Clientset()
	kubectl = cp.Kubectl()
	kubectl.Echo = GinkgoWriter

	configDir := filepath.Join(repoRoot, "config")
	Expect(harness.InstallCRD(ctx, kubectl, configDir)).To(Succeed())
	// The cluster serves ClusterNetworkPolicy (network-policy-api, pinned
	// in go.mod), as one whose CNI implements it does.
	Expect(harness.InstallClusterNetworkPolicyCRD(ctx, kubectl)).To(Succeed())
	Expect(harness.InstallRBAC(ctx, kubectl, configDir, filepath.Join(workDir, "rbac"))).To(Succeed())
	// The manager runs under config/default's admission policies, as in a
	// deployment: its own writes pass because its ClusterRole has assign.
	Expect(harness.InstallAdmissionPolicy(ctx, kubectl, configDir, filepath.Join(workDir, "admission-policy"))).To(Succeed())
	_, managerKubeconfig, err = cp.ServiceAccountConfig(ctx, harness.SystemNamespace, harness.ServiceAccountName)
	Expect(err).NotTo(HaveOccurred())

	var buildErr error
	Eventually(built).WithTimeout(5 * time.Minute).Should(Receive(&buildErr))
	Expect(buildErr).NotTo(HaveOccurred())
	managers.startMain(ctx)
}, NodeTimeout(8*time.Minute))

var _ = AfterSuite(func() {
	managers.stopAll()
})

// Every spec: no manager may log "forbidden" nor be denied a request
// (least privilege: the generated ClusterRole must cover everything the
// manager does), and a failed spec prints the managers' logs.
var _ = BeforeEach(func() {
	mark := managers.markLogs()
	since := time.Now()
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			managers.printLogs(60)
			GinkgoWriter.Println(cp.LogTails(20))
		}
		Expect(unexcusedLogLines(managers.forbiddenSince(mark))).To(BeEmpty(), "manager log lines with \"forbidden\"")
		Expect(unexcusedDenials(deniedSince(since))).To(BeEmpty(), "requests of Tierguard's ServiceAccounts the API server denied")
	})
})
