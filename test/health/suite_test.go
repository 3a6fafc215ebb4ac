// Package health_test checks how GitOps tools see a SegmentationProfile:
// kstatus (Flux, kubectl wait, cli-utils) and the Argo CD health check in
// config/argocd/health.lua, both computed on profiles whose statuses were
// written through the status subresource of a real kube-apiserver and read
// back from it. It also applies what config/default installs to that API
// server (server-side dry run), so the manager's pod passes the restricted
// Pod Security level.
package health_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	k8s     client.Client
	scheme  = runtime.NewScheme()
	ctx     = context.Background()
)

// repo is the repository root, relative to this package.
var repo = filepath.Join("..", "..")

func TestHealth(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "GitOps Health Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is unset: run the tests with 'make test', which builds the control plane with 'make envtest-assets'")

	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
