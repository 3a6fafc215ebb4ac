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
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tierguard/tierguard/test/harness"
)

var (
	cfg *rest.Config
	k8s client.Client
	ctx = context.Background()
)

// repo is the repository root, relative to this package.
var repo = filepath.Join("..", "..")

func TestHealth(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "GitOps Health Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	env, err := harness.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	cfg, k8s = env.Config, env.Client
})
