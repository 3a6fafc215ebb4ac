package e2e_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// Leader election timing of the manager (controller-runtime's defaults).
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
	// maxRetryInterval is the longest wait between a follower's attempts:
	// client-go jitters them from retryPeriod to retryPeriod*(1+1.2).
	maxRetryInterval = retryPeriod + retryPeriod*12/10
	// handoverBound is how long a follower may take to lead after the
	// leader died without releasing the lease: client-go counts the lease
	// duration from when the follower last saw the lease renewed (up to one
	// retry interval after the renewal), and the follower notices the
	// expiry at its next retry. So a handover after SIGKILL takes from
	// about the lease duration up to lease duration + 2 retry intervals.
	handoverBound = leaseDuration + 2*maxRetryInterval + time.Second
	// replicaB is the second replica's own ServiceAccount, bound to the
	// same roles, so that the audit log tells the replicas' requests apart.
	replicaB = "tierguard-replica-b"
	// acquiredLease is what the manager logs on becoming leader.
	acquiredLease = "Successfully acquired lease"
)

// replica is a manager run with leader election as a given user.
type replica struct {
	m    *harness.Manager
	user string
}

var _ = Describe("Two manager replicas with leader election", func() {
	It("let only the leader write, and a killed leader hands over within the lease duration", func(ctx SpecContext) {
		managers.stopMain()
		DeferCleanup(func(ctx SpecContext) { managers.ensureMain(ctx) }, NodeTimeout(time.Minute))
		var running []*harness.Manager
		// Registered before the fixture, so it runs after the profile's
		// deletion, which needs a leader to remove the finalizer.
		DeferCleanup(func() {
			for _, m := range running {
				Expect(m.Stop(15 * time.Second)).To(Succeed())
			}
		})

		Expect(harness.BindServiceAccount(ctx, kubectl, replicaB)).To(Succeed())
		userB := harness.ServiceAccountUser(replicaB)
		Expect(harness.WaitCanI(ctx, kubectl, userB, "update", "leases", harness.SystemNamespace)).To(Succeed())
		Expect(harness.WaitCanI(ctx, kubectl, userB, "patch", "networkpolicies", "")).To(Succeed())
		_, kubeconfigB, err := cp.ServiceAccountConfig(ctx, harness.SystemNamespace, replicaB)
		Expect(err).NotTo(HaveOccurred())

		began := time.Now()
		startReplica := func(name, kubeconfig, user string) replica {
			m := managers.start(ctx, name, kubeconfig, true)
			running = append(running, m)
			return replica{m: m, user: user}
		}
		a := startReplica("replica-a", managerKubeconfig, harness.ManagerUser)
		b := startReplica("replica-b", kubeconfigB, userB)
		leader, follower := waitLeader(ctx, a, b)
		holder := leaseHolder(ctx)
		Expect(holder).NotTo(BeEmpty())
		GinkgoWriter.Printf("Leader: %s (%s), lease holder %s\n", leader.m.Name, leader.user, holder)

		f := newFixture("leader")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		run(ctx, "delete", "networkpolicy", render.PolicyName, "-n", f.ns("dev-a"))
		f.expectConverged(ctx, timeout)
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(1))

		By("seeing only the leader write")
		now := time.Now()
		Expect(stateWrites(leader.user, began, now)).NotTo(BeEmpty(), "the leader enforced the profile")
		Expect(allWrites(follower.user, began, now)).To(BeEmpty(), "the follower wrote")
		Expect(nonGetRequests(scrape(ctx, follower.m))).To(BeZero(), "the follower's client sent requests other than GET")

		By("killing the leader with SIGKILL: it cannot release the lease")
		killed := time.Now()
		Expect(leader.m.Kill()).To(Succeed())
		Eventually(func(ctx context.Context) string { return leaseHolder(ctx) }).WithContext(ctx).
			WithTimeout(handoverBound + 5*time.Second).WithPolling(100 * time.Millisecond).ShouldNot(Or(Equal(holder), BeEmpty()))
		handover := time.Since(killed)
		Eventually(func() string { return follower.m.Log() }).WithTimeout(5 * time.Second).Should(ContainSubstring(acquiredLease))
		AddReportEntry("Leader handover after SIGKILL", handover.Round(100*time.Millisecond).String())
		Expect(handover).To(BeNumerically("<=", handoverBound), "handover after the leader's death (lease %s, retry %s)", leaseDuration, retryPeriod)

		By("letting the new leader repair drift")
		run(ctx, "label", "namespace", f.ns("prod-a"), f.key+"-")
		f.expectConverged(ctx, timeout)
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(2))
		Expect(stateWrites(follower.user, killed, time.Now())).NotTo(BeEmpty(), "the new leader repaired")
		Expect(allWrites(leader.user, killed, time.Now())).To(BeEmpty(), "the dead leader wrote")

		By("restarting the old leader as a follower, then stopping the leader gracefully: it releases the lease")
		again := startReplica(leader.m.Name+"-again", managerKubeconfig, leader.user)
		holder = leaseHolder(ctx)
		stopped := time.Now()
		Expect(follower.m.Stop(15 * time.Second)).To(Succeed())
		Eventually(func() string { return again.m.Log() }).WithTimeout(handoverBound).WithPolling(100 * time.Millisecond).Should(ContainSubstring(acquiredLease))
		graceful := time.Since(stopped)
		AddReportEntry("Leader handover after SIGTERM", graceful.Round(100*time.Millisecond).String())
		Expect(graceful).To(BeNumerically("<", leaseDuration), "a released lease is taken without waiting for it to expire")
		Expect(leaseHolder(ctx)).NotTo(Equal(holder))
		run(ctx, "delete", "networkpolicy", render.PolicyName, "-n", f.ns("test-a"))
		f.expectConverged(ctx, timeout)
	})
})

// waitLeader waits until exactly one replica leads and returns it first.
func waitLeader(ctx context.Context, a, b replica) (leader, follower replica) {
	GinkgoHelper()
	Eventually(func() int {
		n := 0
		for _, r := range []replica{a, b} {
			if strings.Contains(r.m.Log(), acquiredLease) {
				n++
			}
		}
		return n
	}).WithTimeout(handoverBound).Should(Equal(1), "exactly one replica acquires the lease")
	if strings.Contains(a.m.Log(), acquiredLease) {
		return a, b
	}
	return b, a
}

// leaseHolder returns the holder of the manager's leader election lease.
func leaseHolder(ctx context.Context) string {
	lease, err := clientset.CoordinationV1().Leases(harness.SystemNamespace).Get(ctx, harness.LeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// allWrites returns every write by user in [since, until), leases and events
// included.
func allWrites(user string, since, until time.Time) []string {
	var out []string
	for _, e := range auditEvents(since) {
		if e.User.Username == user && e.IsWrite() && e.RequestReceived.Before(until) {
			out = append(out, e.String())
		}
	}
	return out
}
