package render_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// baseProfile exercises every way a namespace can be selected: by name, by
// matchLabels and by each matchExpressions operator.
const baseProfile = `
metadata: {name: company, uid: company-uid}
spec:
  tiers:
  - name: dev
    namespaces:
      names: [sandbox, sandbox-2]
      selector: {matchLabels: {env: dev}}
  - name: test
    namespaces:
      selector:
        matchExpressions:
        - {key: env, operator: In, values: [test, qa]}
        - {key: team, operator: Exists}
  - name: prod
    namespaces:
      selector:
        matchExpressions:
        - {key: env, operator: In, values: [prod]}
        - {key: legacy, operator: DoesNotExist}
        - {key: region, operator: NotIn, values: [moon]}
  sharedNamespaces:
    names: [ingress]
    selector: {matchLabels: {shared: "true"}}
  excludedNamespaces: [legacy-app]
`

// otherProfile is a second profile claiming env=dev namespaces, with its own
// tier label key unless key is set.
func otherProfile(t testing.TB, name string, offset time.Duration, key string) segv1.SegmentationProfile {
	t.Helper()
	if key == "" {
		key = "other.example.com/tier"
	}
	p := profileYAML(t, fmt.Sprintf(`
metadata: {name: %s}
spec:
  tierLabelKey: %s
  tiers:
  - name: dev
    namespaces:
      selector: {matchLabels: {env: dev}}
  sharedNamespaces:
    names: [shared-elsewhere]
  excludedNamespaces: [excluded-elsewhere]
`, name, key))
	return *createdAt(p, offset)
}

// deleting marks a profile as being deleted.
func deleting(p segv1.SegmentationProfile) segv1.SegmentationProfile {
	p.DeletionTimestamp = &metav1.Time{Time: epoch.Add(time.Hour)}
	return p
}

type governanceCase struct {
	name       string
	profile    string // defaults to baseProfile
	others     []segv1.SegmentationProfile
	operatorNS string
	namespaces []render.Namespace

	governed  map[string]string // namespace -> tier
	held      []string
	conflicts []string          // "namespace/Reason", as conflictKeys returns
	skipped   map[string]string // namespace -> reason prefix
	blocked   bool
}

func TestComputeGovernance(t *testing.T) {
	conflict := render.SkipConflict + ": "
	cases := []governanceCase{
		{
			name:       "names lists a namespace without any label",
			namespaces: []render.Namespace{ns("sandbox")},
			governed:   map[string]string{"sandbox": "dev"},
		},
		{
			name:       "matchLabels selector",
			namespaces: []render.Namespace{ns("app-dev", "env=dev"), ns("app-other", "env=staging")},
			governed:   map[string]string{"app-dev": "dev"},
		},
		{
			name: "matchExpressions In and Exists are ANDed",
			namespaces: []render.Namespace{
				ns("qa-1", "env=qa", "team=a"), ns("test-1", "env=test", "team=b"),
				ns("qa-noteam", "env=qa"), ns("staging", "env=staging", "team=a"),
			},
			governed: map[string]string{"qa-1": "test", "test-1": "test"},
		},
		{
			name: "matchExpressions NotIn and DoesNotExist",
			namespaces: []render.Namespace{
				ns("shop", "env=prod", "region=eu"), ns("shop-noregion", "env=prod"),
				ns("moonbase", "env=prod", "region=moon"), ns("old", "env=prod", "legacy=yes"),
			},
			governed: map[string]string{"shop": "prod", "shop-noregion": "prod"},
		},
		{
			name:       "a namespace matched by nothing is not mentioned",
			namespaces: []render.Namespace{ns("default"), ns("kube-system")},
		},
		{
			name: "Kubernetes system namespaces are never governed",
			namespaces: []render.Namespace{
				ns("kube-system", "env=dev"), ns("kube-public", "env=dev"), ns("kube-node-lease", "env=dev"),
			},
			skipped: map[string]string{
				"kube-system":     render.SkipAlwaysExcluded,
				"kube-public":     render.SkipAlwaysExcluded,
				"kube-node-lease": render.SkipAlwaysExcluded,
			},
		},
		{
			name:       "the operator's namespace is never governed",
			operatorNS: "tierguard-system",
			namespaces: []render.Namespace{ns("tierguard-system", "env=dev")},
			skipped:    map[string]string{"tierguard-system": render.SkipOperatorNamespace},
		},
		{
			name:       "excludedNamespaces wins over a matching tier",
			namespaces: []render.Namespace{ns("legacy-app", "env=dev")},
			skipped:    map[string]string{"legacy-app": render.SkipExcluded},
		},
		{
			name: "leavePolicy Retain (default): a namespace that left every tier is held and listed as retained",
			namespaces: []render.Namespace{
				ns("left", "env=staging", render.DefaultTierLabelKey+"=prod", render.ProfileLabel+"=company"),
				ns("others", "env=staging", render.DefaultTierLabelKey+"=prod", render.ProfileLabel+"=zeta"),
				ns("no-tier-label", "env=staging", render.ProfileLabel+"=company"),
			},
			held: []string{"left"},
		},
		{
			name: "leavePolicy Release: a namespace that left every tier is not held",
			profile: baseProfile + `  leavePolicy: Release
`,
			namespaces: []render.Namespace{ns("left", "env=staging", render.DefaultTierLabelKey+"=prod", render.ProfileLabel+"=company")},
		},
		{
			name:       "a retained namespace that is excluded now is released",
			namespaces: []render.Namespace{ns("legacy-app", "env=staging", render.DefaultTierLabelKey+"=prod", render.ProfileLabel+"=company")},
		},
		{
			name:       "a namespace being deleted is skipped and held",
			namespaces: []render.Namespace{terminating(ns("app-dev", "env=dev"))},
			held:       []string{"app-dev"},
			skipped:    map[string]string{"app-dev": render.SkipTerminating},
		},
		{
			name:       "shared namespaces, by name and by selector, are never governed",
			namespaces: []render.Namespace{ns("ingress"), ns("monitoring", "shared=true")},
			skipped:    map[string]string{"ingress": render.SkipShared, "monitoring": render.SkipShared},
		},
		{
			name:       "SharedAndTier by name: treated as shared only, held",
			namespaces: []render.Namespace{ns("ingress", "env=dev")},
			held:       []string{"ingress"},
			conflicts:  []string{"ingress/SharedAndTier"},
			skipped:    map[string]string{"ingress": conflict + "shared namespace matched by tier dev"},
		},
		{
			name:       "SharedAndTier by selector",
			namespaces: []render.Namespace{ns("tools", "shared=true", "env=prod")},
			held:       []string{"tools"},
			conflicts:  []string{"tools/SharedAndTier"},
			skipped:    map[string]string{"tools": conflict + "shared namespace matched by tier prod"},
		},
		{
			name:       "MultipleTiers without a tier label: left ungoverned and held",
			namespaces: []render.Namespace{ns("sandbox", "env=qa", "team=a")},
			held:       []string{"sandbox"},
			conflicts:  []string{"sandbox/MultipleTiers"},
			skipped:    map[string]string{"sandbox": conflict + "matched by tiers dev and test; left ungoverned"},
		},
		{
			name: "MultipleTiers with the label of a matching tier: stays in that tier",
			namespaces: []render.Namespace{
				ns("sandbox", "env=qa", "team=a", render.DefaultTierLabelKey+"=test"),
				ns("app-dev", "env=dev", "shared=false", "team=a", render.DefaultTierLabelKey+"=dev"),
			},
			governed:  map[string]string{"sandbox": "test", "app-dev": "dev"},
			conflicts: []string{"sandbox/MultipleTiers"},
		},
		{
			name:       "MultipleTiers with the label of a tier that does not match: held",
			namespaces: []render.Namespace{ns("sandbox", "env=qa", "team=a", render.DefaultTierLabelKey+"=prod")},
			held:       []string{"sandbox"},
			conflicts:  []string{"sandbox/MultipleTiers"},
			skipped:    map[string]string{"sandbox": conflict + "matched by tiers dev and test"},
		},
		{
			name:       "ClaimedByProfile: an older profile governs the namespace",
			others:     []segv1.SegmentationProfile{otherProfile(t, "zeta", -time.Hour, "")},
			namespaces: []render.Namespace{ns("app-dev", "env=dev"), ns("sandbox")},
			governed:   map[string]string{"sandbox": "dev"},
			held:       []string{"app-dev"},
			conflicts:  []string{"app-dev/ClaimedByProfile"},
			skipped:    map[string]string{"app-dev": conflict + "governed by the older profile zeta"},
		},
		{
			name:       "a younger profile claims nothing from this one",
			others:     []segv1.SegmentationProfile{otherProfile(t, "alpha", time.Hour, "")},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			governed:   map[string]string{"app-dev": "dev"},
		},
		{
			name:       "ClaimedByProfile: same creation time, the smaller name is older",
			others:     []segv1.SegmentationProfile{otherProfile(t, "alpha", 0, "")},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			held:       []string{"app-dev"},
			conflicts:  []string{"app-dev/ClaimedByProfile"},
			skipped:    map[string]string{"app-dev": conflict + "governed by the older profile alpha"},
		},
		{
			name:       "same creation time, a larger name is younger",
			others:     []segv1.SegmentationProfile{otherProfile(t, "zulu", 0, "")},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			governed:   map[string]string{"app-dev": "dev"},
		},
		{
			name:       "a profile being deleted claims nothing",
			others:     []segv1.SegmentationProfile{deleting(otherProfile(t, "zeta", -time.Hour, ""))},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			governed:   map[string]string{"app-dev": "dev"},
		},
		{
			name:   "an older profile does not claim its own excluded and shared namespaces",
			others: []segv1.SegmentationProfile{otherProfile(t, "zeta", -time.Hour, "")},
			namespaces: []render.Namespace{
				ns("excluded-elsewhere", "env=dev"), ns("shared-elsewhere", "env=dev"),
			},
			governed: map[string]string{"excluded-elsewhere": "dev", "shared-elsewhere": "dev"},
		},
		{
			name:   "TierLabelKeyInUse: the younger profile governs nothing and holds its namespaces",
			others: []segv1.SegmentationProfile{otherProfile(t, "zeta", -time.Hour, render.DefaultTierLabelKey)},
			namespaces: []render.Namespace{
				ns("app-dev", "env=dev", render.ProfileLabel+"=company"),
				ns("sandbox"),
				ns("elsewhere", render.ProfileLabel+"=zeta"),
			},
			held:      []string{"app-dev"},
			conflicts: []string{"/TierLabelKeyInUse"},
			skipped:   map[string]string{"app-dev": render.SkipBlocked, "sandbox": render.SkipBlocked},
			blocked:   true,
		},
		{
			name:       "TierLabelKeyInUse: the older profile is not blocked by a younger one",
			others:     []segv1.SegmentationProfile{otherProfile(t, "alpha", time.Hour, render.DefaultTierLabelKey)},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			governed:   map[string]string{"app-dev": "dev"},
		},
		{
			name: "a profile blocked by an older one claims nothing",
			others: []segv1.SegmentationProfile{
				// alpha owns the key that beta wants, so beta governs
				// nothing and cannot claim app-dev from company.
				func() segv1.SegmentationProfile {
					p := otherProfile(t, "alpha", -2*time.Hour, "shared.example.com/tier")
					p.Spec.Tiers[0].Namespaces.Selector.MatchLabels = map[string]segv1.LabelValue{"env": "never"}
					return p
				}(),
				otherProfile(t, "beta", -time.Hour, "shared.example.com/tier"),
			},
			namespaces: []render.Namespace{ns("app-dev", "env=dev")},
			governed:   map[string]string{"app-dev": "dev"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.profile
			if doc == "" {
				doc = baseProfile
			}
			plan, err := render.Compute(render.Input{
				Profile:           createdAt(profileYAML(t, doc), 0),
				OtherProfiles:     tc.others,
				Namespaces:        tc.namespaces,
				OperatorNamespace: tc.operatorNS,
			})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			checkGovernance(t, plan, tc)
		})
	}
}

func checkGovernance(t *testing.T, plan *render.Plan, tc governanceCase) {
	t.Helper()
	if got := governedTiers(plan); !mapsEqual(got, tc.governed) {
		t.Errorf("governed = %v, want %v", got, tc.governed)
	}
	if !slices.Equal(plan.Held, tc.held) {
		t.Errorf("held = %q, want %q", plan.Held, tc.held)
	}
	if got := conflictKeys(plan); !slices.Equal(got, tc.conflicts) {
		t.Errorf("conflicts = %q, want %q (%+v)", got, tc.conflicts, plan.Conflicts)
	}
	got := skippedReasons(plan)
	if !slices.Equal(sortedKeys(got), sortedKeys(tc.skipped)) {
		t.Errorf("skipped = %q, want %q", got, tc.skipped)
	}
	for name, want := range tc.skipped {
		if !strings.HasPrefix(got[name], want) {
			t.Errorf("skipped[%s] = %q, want prefix %q", name, got[name], want)
		}
	}
	if plan.Blocked != tc.blocked {
		t.Errorf("blocked = %v, want %v", plan.Blocked, tc.blocked)
	}
	for _, h := range tc.held {
		if !plan.IsHeld(h) || plan.Lookup(h) != nil {
			t.Errorf("%s: IsHeld = %v, Lookup = %v; want held and not governed", h, plan.IsHeld(h), plan.Lookup(h))
		}
	}
	for name, tier := range tc.governed {
		if g := plan.Lookup(name); g == nil || g.Tier != tier || plan.IsHeld(name) {
			t.Errorf("%s: Lookup = %v, IsHeld = %v; want governed in %s", name, g, plan.IsHeld(name), tier)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestComputeConflictMessages pins the messages users read in status and in
// the plugin's warnings.
func TestComputeConflictMessages(t *testing.T) {
	plan, err := render.Compute(render.Input{
		Profile: createdAt(profileYAML(t, baseProfile), 0),
		OtherProfiles: []segv1.SegmentationProfile{
			otherProfile(t, "zeta", -time.Hour, ""),
		},
		Namespaces: []render.Namespace{
			ns("app-dev", "env=dev"),
			ns("sandbox", "env=qa", "team=a"),
			ns("qa-1", "env=qa", "team=a", "shared=true"),
			ns("sandbox-2", "env=qa", "team=a", render.DefaultTierLabelKey+"=test"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []render.Conflict{
		{Namespace: "app-dev", Reason: segv1.ConflictClaimedByProfile, Message: "governed by the older profile zeta"},
		{Namespace: "qa-1", Reason: segv1.ConflictSharedAndTier, Message: "shared namespace matched by tier test; treated as shared only"},
		{Namespace: "sandbox", Reason: segv1.ConflictMultipleTiers, Message: "matched by tiers dev and test; left ungoverned"},
		{Namespace: "sandbox-2", Reason: segv1.ConflictMultipleTiers, Message: "matched by tiers dev and test; stays in tier test"},
	}
	if !slices.Equal(plan.Conflicts, want) {
		t.Errorf("conflicts:\n got %+v\nwant %+v", plan.Conflicts, want)
	}

	blocked, err := render.Compute(render.Input{
		Profile:       createdAt(profileYAML(t, baseProfile), 0),
		OtherProfiles: []segv1.SegmentationProfile{otherProfile(t, "zeta", -time.Hour, render.DefaultTierLabelKey)},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantBlocked := []render.Conflict{{
		Reason:  segv1.ConflictTierLabelKeyInUse,
		Message: "tierLabelKey segmentation.tierguard.io/tier is used by the older profile zeta; this profile governs nothing",
	}}
	if !slices.Equal(blocked.Conflicts, wantBlocked) {
		t.Errorf("blocked conflicts:\n got %+v\nwant %+v", blocked.Conflicts, wantBlocked)
	}
}

// TestComputeKeepsTierNoFlipFlop recomputes a MultipleTiers namespace after
// applying the plan's labels: it must stay in the same tier every time.
func TestComputeKeepsTierNoFlipFlop(t *testing.T) {
	profile := createdAt(profileYAML(t, baseProfile), 0)
	current := ns("sandbox", "env=qa", "team=a", render.DefaultTierLabelKey+"=test")
	for i := range 3 {
		plan, err := render.Compute(render.Input{Profile: profile, Namespaces: []render.Namespace{current}})
		if err != nil {
			t.Fatal(err)
		}
		g := plan.Lookup("sandbox")
		if g == nil || g.Tier != "test" {
			t.Fatalf("round %d: sandbox governed as %+v, want tier test", i, g)
		}
		current.Labels = render.MergedLabels(current.Labels, g.Labels)
	}
}

func TestComputeRejectsInvalidSelector(t *testing.T) {
	p := profileYAML(t, baseProfile)
	p.Spec.Tiers[1].Namespaces.Selector.MatchExpressions[0].Operator = "Near"
	if _, err := render.Compute(render.Input{Profile: p}); err == nil || !strings.Contains(err.Error(), "tier test") {
		t.Fatalf("Compute error = %v, want one naming tier test", err)
	}
}

func TestTierCounts(t *testing.T) {
	p := profileYAML(t, baseProfile)
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: []render.Namespace{
		ns("sandbox"), ns("app-dev", "env=dev"), ns("shop", "env=prod"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []segv1.TierStatus{{Name: "dev", Namespaces: 2}, {Name: "test", Namespaces: 0}, {Name: "prod", Namespaces: 1}}
	if got := plan.TierCounts(p); !slices.Equal(got, want) {
		t.Errorf("TierCounts = %+v, want %+v", got, want)
	}
}
