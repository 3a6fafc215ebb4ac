package dataplane_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/tierguard/tierguard/test/dataplane"
)

// bed is the suite's test bed, shared by every container; each container
// starts from and returns to the baseline (no profile, no policy, every
// cell open).
var bed *dataplane.Bed

// TestDataplane runs the suite, or says loudly why it cannot: a skipped
// dataplane suite must never look like a pass.
func TestDataplane(t *testing.T) {
	if err := dataplane.HostSupport(); err != nil {
		msg := fmt.Sprintf("SKIPPED: dataplane suite needs root and Linux (%v)", err)
		fmt.Println(msg)
		t.Skip(msg)
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Dataplane Suite")
}

// suiteStart times the whole suite, bed included.
var suiteStart time.Time

var _ = BeforeSuite(func(ctx SpecContext) {
	suiteStart = time.Now()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	b, err := dataplane.Up(ctx, dataplane.Options{
		RepoRoot:   root,
		Namespaces: bedNamespaces,
		Logf:       func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
	})
	bed = b
	// Registered before checking the error: a half-built bed is torn down too.
	DeferCleanup(tearDown)
	Expect(err).NotTo(HaveOccurred(), "bringing the bed up")
	results.addTiming("bed up", time.Since(start))

	start = time.Now()
	checkEngineEnforces(ctx)
	results.addTiming("engine check", time.Since(start))
}, NodeTimeout(15*time.Minute))

// tearDown stops the bed and reports the figures; Down fails when anything
// is left on the machine.
func tearDown() {
	start := time.Now()
	downErr := bed.Down()
	results.addTiming("bed down", time.Since(start))
	results.addTiming("whole suite", time.Since(suiteStart))
	results.print()
	Expect(results.write("results.md")).To(Succeed())
	Expect(downErr).NotTo(HaveOccurred(), "tearing the bed down")
}

var _ = ReportAfterEach(func(report SpecReport) {
	if report.State.Is(types.SpecStatePassed | types.SpecStateFailureStates) {
		results.addTiming(report.FullText(), report.RunTime)
	}
	if report.Failed() && bed != nil {
		fmt.Println(bed.Diagnostics())
	}
})

// checkEngineEnforces proves the engine enforces for every pod before
// anything is measured: with no policy every cell is open (so an engine
// enforcing nothing fails every later test), a deny-all ingress policy in
// every namespace closes every cell between two pods, and so does a deny-all
// egress policy.
func checkEngineEnforces(ctx context.Context) {
	By("measuring the baseline: every cell open")
	show("Baseline (no policy)", expectMatrix(ctx, allOpen()))

	By("denying all ingress in every namespace")
	applyEngineCheckPolicies(ctx, "Ingress")
	expectMatrix(ctx, onlySelf())

	By("denying all egress in every namespace, instead of all ingress")
	applyEngineCheckPolicies(ctx, "Egress")
	expectMatrix(ctx, onlySelf())
	// The swap may still be in the engine: the last measurements are made
	// once only the egress policies are left.
	holdMatrix(ctx, onlySelf())

	By("removing the deny-all policies: every cell open again")
	deleteEngineCheckPolicies(ctx)
	expectMatrix(ctx, allOpen())
}
