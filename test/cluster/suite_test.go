package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes/scheme"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/cluster"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// managerImage is the manager's image, built from the Dockerfile's
// definition by hack/image and imported into the node's containerd.
const managerImage = "localhost/tierguard:bed"

var (
	bed      *cluster.Cluster
	repoRoot string
	kubectl  harness.Kubectl
)

func TestCluster(t *testing.T) {
	if err := hostbed.Support(); err != nil {
		fmt.Printf("SKIPPED: the real-node suite needs root and Linux (%v)\n", err)
		t.Skipf("the real-node suite needs root and Linux: %v", err)
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Real-node suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(segv1.AddToScheme(scheme.Scheme)).To(Succeed())
	var err error
	repoRoot, err = harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	bed, err = cluster.Up(ctx, cluster.Options{RepoRoot: repoRoot, Logf: func(f string, a ...any) { GinkgoWriter.Printf(f+"\n", a...) }})
	DeferCleanup(func() {
		if bed != nil {
			Expect(bed.Down()).To(Succeed())
		}
	})
	Expect(err).NotTo(HaveOccurred())
	report("Cluster up (node Ready)", time.Since(start))
	kubectl = bed.Plane.Kubectl()

	By("building the manager's image without a Docker daemon and importing it into containerd")
	start = time.Now()
	// make docker-build without a Docker daemon builds the Dockerfile's image
	// with hack/image (CONTAINER_TOOL names no daemon here on purpose).
	cmd := makeCommand(ctx, "docker-build", "IMG="+managerImage, "CONTAINER_TOOL=no-container-daemon")
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "make docker-build:\n%s", out)
	tarball := filepath.Join(repoRoot, "bin", "image.tar")
	Expect(bed.ImportImage(ctx, tarball)).To(Succeed())
	report("Manager image built and imported", time.Since(start))
}, NodeTimeout(20*time.Minute))

// report prints a measured figure into the test output.
func report(what string, d time.Duration) {
	// Printed to standard output, so that `go test -v` shows it on success.
	fmt.Printf("MEASURED %s: %s\n", what, d.Round(time.Millisecond))
	AddReportEntry(what, d.Round(time.Millisecond).String())
}

// kube runs kubectl as the cluster's admin.
func kube(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := kubectl.Run(ctx, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %v: %s", args, out)
	return out
}

// makeTarget runs a make target of the repository against the cluster, as a
// user would.
func makeTarget(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := makeCommand(ctx, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "make %v:\n%s", args, out)
	return string(out)
}
