package e2e_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tierguard/tierguard/internal/render"
)

var _ = Describe("kube-apiserver and etcd restarts", func() {
	It("the manager recovers by itself and keeps converging", func(ctx SpecContext) {
		f := newFixture("restarts")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		m := managers.mainManager()
		pid := m.PID()

		tamperAndCreate := func(ctx context.Context, policyNS, labelNS string, created nsSpec) {
			GinkgoHelper()
			run(ctx, "delete", "networkpolicy", render.PolicyName, "-n", f.ns(policyNS))
			run(ctx, "label", "namespace", f.ns(labelNS), f.key+"-")
			f.createNamespaces(ctx, created)
		}

		By("restarting kube-apiserver")
		faults.during(func() {
			Expect(cp.RestartAPIServer(ctx)).To(Succeed())
			// tierguard-protect-tier-labels fails closed: until the new API
			// server has discovered the CRD its params come from (it
			// rediscovers every 30 s), it refuses every namespace write,
			// Tierguard's and an administrator's alike.
			began := time.Now()
			Eventually(func(ctx context.Context) error {
				_, err := kubectl.Run(ctx, "label", "namespace", f.ns("other"), "e2e.tierguard.io/after-restart="+time.Now().Format("150405.000000"), "--overwrite")
				return err
			}).WithContext(ctx).WithTimeout(45 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
			GinkgoWriter.Printf("Namespace writes admitted %s after the API server restarted\n", time.Since(began).Round(time.Millisecond))
		})
		tamperAndCreate(ctx, "dev-a", "test-a", nsSpec{"dev-c", "dev"})
		f.expectConverged(ctx, time.Minute)
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(2))

		By("restarting etcd")
		Expect(cp.RestartEtcd(ctx)).To(Succeed())
		tamperAndCreate(ctx, "prod-a", "prod-b", nsSpec{"test-c", "test"})
		f.expectConverged(ctx, time.Minute)
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(4))

		By("stopping etcd for 5 seconds")
		Expect(cp.StopEtcd()).To(Succeed())
		time.Sleep(5 * time.Second)
		Expect(cp.StartEtcd(ctx)).To(Succeed())
		tamperAndCreate(ctx, "test-b", "dev-b", nsSpec{"prod-c", "prod"})
		f.expectConverged(ctx, time.Minute)
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(6))

		By("having done it in the same process")
		expectRunning(m)
		Expect(m.PID()).To(Equal(pid))
	})
})
