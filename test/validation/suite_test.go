// Package validation proves the SegmentationProfile CRD's admission
// validation (OpenAPI bounds, patterns, enums and CEL rules) against a real
// kube-apiserver and etcd started by controller-runtime's envtest.
package validation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// k8sVersion is the Kubernetes version `make envtest-assets` builds; it names
// the default assets directory, as in the Makefile.
const k8sVersion = "1.37.2"

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	assetsDir string
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "SegmentationProfile admission validation")
}

// resolveAssetsDir returns KUBEBUILDER_ASSETS, or the directory `make
// envtest-assets` builds into when it is unset.
func resolveAssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.Getenv("HOME")
	}
	return filepath.Join(home, ".local", "share", "kubebuilder-envtest", "k8s", k8sVersion+"-linux-amd64")
}

// requireBinary fails the calling node, with instructions, unless name is an
// executable file in assetsDir.
func requireBinary(name string) string {
	path := filepath.Join(assetsDir, name)
	info, err := os.Stat(path)
	ExpectWithOffset(1, err == nil && !info.IsDir() && info.Mode().Perm()&0o111 != 0).To(BeTrue(),
		fmt.Sprintf("%s is missing or not executable (KUBEBUILDER_ASSETS=%q): run `make envtest-assets` to build "+
			"etcd, kube-apiserver and kubectl %s from source, or point KUBEBUILDER_ASSETS at a directory holding them",
			path, os.Getenv("KUBEBUILDER_ASSETS"), k8sVersion))
	return path
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	ctx, cancel = context.WithCancel(context.Background())

	assetsDir = resolveAssetsDir()
	requireBinary("etcd")
	requireBinary("kube-apiserver")

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assetsDir,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and installing the CRD from config/crd/bases")
	Expect(cfg).NotTo(BeNil())

	scheme := runtime.NewScheme()
	Expect(segv1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Eventually(testEnv.Stop).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	}
})
