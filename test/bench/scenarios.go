package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// scenarioOptions are the flags of the user scenarios: profile edits,
// applications' own policies and many profiles.
type scenarioOptions struct {
	editsAt       []int
	appPoliciesAt []int
	// profiles and perProfile are -many-profiles' PxN; profiles 0 skips.
	profiles, perProfile int

	editsAtFlag, appPoliciesAtFlag, manyProfilesFlag string
}

// register declares the flags; parse reads them after flag.Parse.
func (s *scenarioOptions) register() {
	flag.StringVar(&s.editsAtFlag, "edits-at", "5000", "Scales of the profile edits (Audit to Enforce, a flow, a tier rename, namespaceLabels, ClusterNetworkPolicy), each on a fresh plane against the raw client's same writes (0: none; each of 1000 and 20000 adds about 1 and 7 minutes).")
	flag.StringVar(&s.appPoliciesAtFlag, "app-policies-at", "1000,5000", "Scales of the run with 1-3 application NetworkPolicies per governed namespace, against the same run without (0: none).")
	flag.StringVar(&s.manyProfilesFlag, "many-profiles", "20x1000", "PxN: P profiles of N namespaces each under one manager, against one profile of N (0: none).")
}

func (s *scenarioOptions) parse() error {
	var err error
	if s.editsAt, err = parseScenarioScales(s.editsAtFlag); err != nil {
		return fmt.Errorf("-edits-at: %w", err)
	}
	if s.appPoliciesAt, err = parseScenarioScales(s.appPoliciesAtFlag); err != nil {
		return fmt.Errorf("-app-policies-at: %w", err)
	}
	if f := strings.TrimSpace(s.manyProfilesFlag); f != "" && f != "0" {
		p, n, ok := strings.Cut(f, "x")
		pi, err1 := strconv.Atoi(p)
		ni, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || pi < 1 || ni < 1 {
			return fmt.Errorf("-many-profiles: %q is not PxN", f)
		}
		s.profiles, s.perProfile = pi, ni
	}
	return nil
}

// parseScenarioScales parses a list of scales; "0" is none.
func parseScenarioScales(s string) ([]int, error) {
	if strings.TrimSpace(s) == "0" || strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return parseInts(s)
}

// Scenarios are what users do to a converged cluster, measured and
// printed, never asserted.
type Scenarios struct {
	// Edits are the profile edits, per scale.
	Edits []*EditRun `json:"edits,omitempty"`
	// AppPolicies compare runs with and without applications' own
	// NetworkPolicies, per scale.
	AppPolicies []*AppPolicyComparison `json:"appPolicies,omitempty"`
	// ManyProfiles compares P profiles of N namespaces with one of N.
	ManyProfiles *ManyProfilesComparison `json:"manyProfiles,omitempty"`
}

// runScenarios runs the scenarios the flags ask for; nil when none.
func (b *bench) runScenarios(ctx context.Context) (*Scenarios, error) {
	o := b.opts.scenarios
	if len(o.editsAt) == 0 && len(o.appPoliciesAt) == 0 && o.profiles == 0 {
		return nil, nil
	}
	out := &Scenarios{}
	for _, n := range o.editsAt {
		b.logf("N=%d: profile edits", n)
		e, err := b.runEdits(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("profile edits at %d: %w", n, err)
		}
		out.Edits = append(out.Edits, e)
	}
	for _, n := range o.appPoliciesAt {
		c, err := b.compareAppPolicies(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("application policies at %d: %w", n, err)
		}
		out.AppPolicies = append(out.AppPolicies, c)
	}
	if o.profiles > 0 {
		m, err := b.compareManyProfiles(ctx, o.profiles, o.perProfile)
		if err != nil {
			return nil, fmt.Errorf("many profiles: %w", err)
		}
		out.ManyProfiles = m
	}
	return out, nil
}

// Costs of the scenarios beside estimate.go's, per object written (the
// manager's edits, the raw replay, the plane's reset) and per settle.
const (
	estimateEditObject     = 1500 * time.Microsecond
	estimateRawObject      = 1300 * time.Microsecond
	estimateResetObject    = 700 * time.Microsecond
	estimateAppPolicy      = 500 * time.Microsecond
	estimateScenarioSettle = settleQuiet + time.Second
)

// editObjectsPerNamespace is how many objects the edits change per
// governed namespace, in thirds: Audit to Enforce 6, a flow into prod 1,
// the rename 3, namespaceLabels 2, ClusterNetworkPolicy 4; the reset 7.
const (
	editThirds  = 16
	resetThirds = 7
)

// estimateScenarios predicts what the scenarios add to a run.
func estimateScenarios(o options) time.Duration {
	s := o.scenarios
	populate := func(n int) time.Duration { return estimatePlane + time.Duration(n+o.unrelated)*estimatePopulate }
	var total time.Duration
	for _, n := range s.editsAt {
		thirds := time.Duration(n) / 3
		total += populate(n) + estimateManager + time.Duration(len(profileEdits)+1)*estimateScenarioSettle +
			thirds*editThirds*(estimateEditObject+estimateRawObject) + thirds*resetThirds*estimateResetObject
	}
	for _, n := range s.appPoliciesAt {
		run := populate(n) + estimateManager + time.Duration(n)*estimateCold + 2*estimateScenarioSettle
		total += 2*run + time.Duration(2*n)*estimateAppPolicy
	}
	if s.profiles > 0 {
		for _, p := range []int{s.profiles, 1} {
			n := p * s.perProfile
			total += populate(n) + estimateManager + time.Duration(n)*estimateCold + estimateScenarioSettle +
				time.Duration(o.tamperings)*(o.gap+estimateIncident)
		}
	}
	return total
}
