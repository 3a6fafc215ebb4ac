// Package validation proves the SegmentationProfile CRD's admission
// validation (OpenAPI bounds, patterns, enums and CEL rules) against a real
// kube-apiserver and etcd started by controller-runtime's envtest.
package validation

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tierguard/tierguard/test/harness"
)

var (
	testEnv   *harness.Envtest
	k8sClient client.Client
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "SegmentationProfile admission validation")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	testEnv, err = harness.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	k8sClient = testEnv.Client
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Eventually(testEnv.Stop).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	}
})
