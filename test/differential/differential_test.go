package differential

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	seedFlag     = flag.Uint64("seed", 0, "seed of the run; 0 draws one from the clock (the run prints it)")
	clustersFlag = flag.Int("clusters", 500, "random clusters to generate")
	portsFlag    = flag.Int("ports", 6, "ports drawn per endpoint pair, besides the destination's named ports")
	shrinkFlag   = flag.Int("shrink", 5, "unexplained disagreements to shrink and print in full")
	ignoreKnown  = flag.Bool("ignore-known", false, "treat known differences as unexplained, to shrink and print them")
)

// outcome is one case's result on both sides.
type outcome struct {
	cluster   int
	q         query
	tierguard verdict
	reason    string
	reference verdict
}

type clusterResult struct {
	cases, agreed int
	known         map[string]int
	// decidedBy counts, per direction, which of the engine's evaluators
	// decided: a check that every tier is exercised.
	decidedBy   map[string]int
	unexplained []outcome
	err         error
}

// TestDifferential asks both engines about every case of many random
// clusters and fails on any disagreement that no known difference
// explains, printing it shrunk to a minimal cluster.
func TestDifferential(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	start := time.Now()
	results := make([]clusterResult, *clustersFlag)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				results[i] = runCluster(i, clusterSeed(seed, i), *portsFlag)
			}
		})
	}
	for i := range results {
		next <- i
	}
	close(next)
	wg.Wait()

	var cases, agreed int
	known, decidedBy := map[string]int{}, map[string]int{}
	var unexplained []outcome
	for i, r := range results {
		if r.err != nil {
			t.Errorf("cluster %d (seed %d): %v", i, seed, r.err)
			continue
		}
		cases += r.cases
		agreed += r.agreed
		for k, n := range r.known {
			known[k] += n
		}
		for k, n := range r.decidedBy {
			decidedBy[k] += n
		}
		unexplained = append(unexplained, r.unexplained...)
	}
	knownTotal := 0
	for _, n := range known {
		knownTotal += n
	}
	fmt.Printf("differential: %d cases, %d agreed, %d known differences (seed %d, %.1fs)\n",
		cases, agreed, knownTotal, seed, time.Since(start).Seconds())
	for _, k := range knownDifferences {
		if n := known[k.id]; n > 0 {
			fmt.Printf("differential:   %d known (%s): %s\n", n, k.id, k.summary)
		}
	}
	fmt.Printf("differential:   decided by (reference): %s\n", shares(decidedBy, cases))
	if len(unexplained) == 0 {
		return
	}
	t.Errorf("%d cases disagree with no known difference to explain them (seed %d; rerun with go test -run TestDifferential -args -seed %d)",
		len(unexplained), seed, seed)
	shown, clusters := map[string]bool{}, map[int]bool{}
	for _, o := range unexplained {
		if len(shown) >= *shrinkFlag {
			break
		}
		if clusters[o.cluster] {
			continue
		}
		clusters[o.cluster] = true
		c := generateCluster(clusterSeed(seed, o.cluster))
		small := shrink(c, o.q, func(s *cluster) bool {
			tg, ref, _, err := decideBoth(s, o.q)
			return err == nil && tg == o.tierguard && ref == o.reference && explain(s, o.q, tg, ref) == ""
		})
		b, err := regressionJSON(regression{Cluster: small, Query: o.q, Want: o.tierguard})
		if err != nil {
			t.Fatal(err)
		}
		if shown[string(b)] {
			continue
		}
		shown[string(b)] = true
		_, _, reason, _ := decideBoth(small, o.q)
		t.Errorf("cluster %d: %s -> %s %s/%d\n  tierguard: %s\n    %s\n  reference: %s\n  shrunk (a testdata/regressions entry once decided; want is Tierguard's answer):\n%s",
			o.cluster, small.describe(o.q.From), small.describe(o.q.To), o.q.Protocol, o.q.Port,
			o.tierguard, reason, o.reference, indent(string(b)))
	}
}

// clusterSeed derives each cluster's seed from the run's, so that a
// cluster is the same whichever worker draws it.
func clusterSeed(seed uint64, i int) uint64 {
	return seed ^ (uint64(i)+1)*0x9e3779b97f4a7c15
}

func runCluster(index int, seed uint64, perPair int) clusterResult {
	c := generateCluster(seed)
	if err := validate(c); err != nil {
		return clusterResult{err: fmt.Errorf("the generator drew a cluster the API server would refuse: %w", err)}
	}
	tg, err := tierguardOf(c)
	if err != nil {
		return clusterResult{err: err}
	}
	ref, err := newReference(c)
	if err != nil {
		return clusterResult{err: err}
	}
	res := clusterResult{known: map[string]int{}, decidedBy: map[string]int{}}
	for _, q := range queries(c, rand.New(rand.NewPCG(seed, 1)), perPair) {
		tv, reason, err := tg.decide(q)
		if err != nil {
			return clusterResult{err: err}
		}
		rv, by, err := ref.decide(q)
		if err != nil {
			return clusterResult{err: fmt.Errorf("%s: reference: %w", q, err)}
		}
		res.cases++
		res.decidedBy["ingress: "+by.ingress]++
		res.decidedBy["egress: "+by.egress]++
		switch k := explain(c, q, tv, rv); {
		case tv == rv:
			res.agreed++
		case k != "":
			res.known[k]++
		default:
			res.unexplained = append(res.unexplained, outcome{cluster: index, q: q, tierguard: tv, reason: reason, reference: rv})
		}
	}
	return res
}

// decideBoth loads c into both engines and asks about q.
func decideBoth(c *cluster, q query) (tv, rv verdict, reason string, err error) {
	tg, err := tierguardOf(c)
	if err != nil {
		return tv, rv, "", err
	}
	ref, err := newReference(c)
	if err != nil {
		return tv, rv, "", err
	}
	if tv, reason, err = tg.decide(q); err != nil {
		return tv, rv, "", err
	}
	rv, _, err = ref.decide(q)
	return tv, rv, reason, err
}

// shares renders counts as percentages of total, sorted by name.
func shares(counts map[string]int, total int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(counts[k])/float64(max(total, 1))))
	}
	return strings.Join(parts, ", ")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
