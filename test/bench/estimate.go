package main

import (
	"slices"
	"time"
)

// Costs of the run-time estimate on an idle 2-core machine (Kubernetes
// 1.37), from runs at 1,000 and 5,000 and a trial at 20,000: the trial ran
// beside another bench, and took about 1.4 times the estimate. A shared
// machine takes longer.
const (
	// estimateBuild builds the manager.
	estimateBuild = 30 * time.Second
	// estimatePlane starts a plane, installs the CRD and RBAC, and stops
	// it again.
	estimatePlane = 8 * time.Second
	// estimatePopulate creates one namespace and its default
	// ServiceAccount (20,300 took 32 to 70 s in the trial).
	estimatePopulate = 1500 * time.Microsecond
	// estimateRaw and estimateCold are T_raw (over the concurrencies) and
	// T_cold per governed namespace.
	estimateRaw  = 2800 * time.Microsecond
	estimateCold = 3200 * time.Microsecond
	// estimateManager is what a run with the manager costs beside the
	// cold start: its start, settling, memory readings and stop.
	estimateManager = 10 * time.Second
	// estimateRestart is one restart of the manager until settled: a fixed
	// part and a part per governed namespace.
	estimateRestart      = 5 * time.Second
	estimateRestartPerNS = 100 * time.Microsecond
	// estimateIncident is one tampering or new namespace beside the pause
	// after it: a fixed part and a part per governed namespace (the repair
	// takes longer with N).
	estimateIncident       = 50 * time.Millisecond
	estimateIncidentPerNS  = 7500 * time.Nanosecond
	estimateExtraPerObject = 1200 * time.Microsecond
)

// estimateRun predicts how long a run with these options takes.
func estimateRun(o options) time.Duration {
	total := estimateBuild
	if o.managerBin != "" {
		total = 0
	}
	for _, n := range o.scales {
		populate := estimatePlane + time.Duration(n+o.unrelated)*estimatePopulate
		raws := o.rawRuns * len(o.rawConcurrency) * 2
		total += time.Duration(raws) * (populate + time.Duration(n)*estimateRaw)
		for i := range o.coldRuns[n] {
			total += populate + estimateManager + time.Duration(n)*estimateCold
			if i == 0 && slices.Contains(o.fullAt, n) {
				total += estimateFull(o, n)
			}
		}
	}
	if o.cnpAt > 0 {
		runs := time.Duration(o.cnpRuns * 3)
		total += runs * (estimatePlane + time.Duration(o.cnpAt+o.unrelated)*estimatePopulate + estimateManager + time.Duration(o.cnpAt)*estimateCold)
	}
	return total
}

// estimateFull is what a full run adds to a cold start at n: steady state
// (idle, a forced pass, three restarts, a resync), drift, new namespaces
// and unrelated objects.
func estimateFull(o options, n int) time.Duration {
	restart := estimateRestart + time.Duration(n)*estimateRestartPerNS
	d := o.idle + 2*settleQuiet + 2*restart + o.resync*22/10
	incident := o.gap + estimateIncident + time.Duration(n)*estimateIncidentPerNS
	d += time.Duration(o.tamperings+o.newNamespaces)*incident + 2*settleQuiet
	if n == o.extrasAt && o.extraObjects > 0 {
		d += time.Duration(2*o.extraObjects)*estimateExtraPerObject + 4*settleQuiet
	}
	return d
}
