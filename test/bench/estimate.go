package main

import (
	"slices"
	"time"
)

// Costs of the run-time estimate, measured on an idle 2-core machine
// (Kubernetes 1.37, N up to 20,000). A shared machine takes longer.
const (
	// estimateBuild builds the manager.
	estimateBuild = 30 * time.Second
	// estimatePlane starts a plane, installs the CRD and RBAC, and stops
	// it again.
	estimatePlane = 12 * time.Second
	// estimatePopulate creates one namespace and its default
	// ServiceAccount.
	estimatePopulate = 1500 * time.Microsecond
	// estimateRaw and estimateCold are T_raw and T_cold per governed
	// namespace.
	estimateRaw  = 2600 * time.Microsecond
	estimateCold = 3000 * time.Microsecond
	// estimateManager is what a run with the manager costs beside the
	// cold start: its start, settling, memory readings and stop.
	estimateManager = 10 * time.Second
	// estimateRestart is one restart of the manager until settled, per
	// governed namespace beside a fixed part.
	estimateRestart        = 8 * time.Second
	estimateRestartPerNS   = 250 * time.Microsecond
	estimateIncident       = 70 * time.Millisecond
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
	d := o.idle + 2*settleQuiet + 3*restart + o.resync*22/10
	d += time.Duration(o.tamperings+o.newNamespaces) * (o.gap + estimateIncident)
	if n == o.extrasAt && o.extraObjects > 0 {
		d += time.Duration(2*o.extraObjects)*estimateExtraPerObject + 4*settleQuiet
	}
	return d
}
