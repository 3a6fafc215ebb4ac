package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/matrix from the current output")

// allowAllPolicies holds a foreign allow-all in billing-prod, a stale copy
// of Tierguard's policy in shop-prod (replaced by the rendered one) and a
// harmless policy in app-dev.
const allowAllPolicies = "testdata/policies-allow-all.yaml"

// pairJSON is one element of matrix -o json.
type pairJSON struct {
	From            string   `json:"from"`
	To              string   `json:"to"`
	Allowed         bool     `json:"allowed"`
	Ports           []string `json:"ports"`
	Policies        []string `json:"policies"`
	Intended        bool     `json:"intended"`
	IntendedPorts   []string `json:"intendedPorts"`
	Differs         bool     `json:"differs"`
	UnintendedPorts []string `json:"unintendedPorts,omitempty"`
	MissingPorts    []string `json:"missingPorts,omitempty"`
	Responsible     []string `json:"responsible,omitempty"`
	Exact           bool     `json:"exact"`
	FromTier        string   `json:"fromTier,omitempty"`
	ToTier          string   `json:"toTier,omitempty"`
}

func matrixJSON(t *testing.T, args ...string) map[[2]string]pairJSON {
	t.Helper()
	r := runPlugin(t, "", append([]string{"matrix", "-o", "json"}, args...)...).mustSucceed(t)
	return decodePairs(t, r.stdout)
}

// decodePairs decodes the output of matrix -o json.
func decodePairs(t *testing.T, stdout string) map[[2]string]pairJSON {
	t.Helper()
	var pairs []pairJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pairs); err != nil {
		t.Fatalf("output is not a JSON array of pairs: %v\n%s", err, stdout)
	}
	out := map[[2]string]pairJSON{}
	for _, p := range pairs {
		out[[2]string{p.From, p.To}] = p
	}
	if len(out) != len(pairs) {
		t.Fatalf("%d pairs, %d distinct", len(pairs), len(out))
	}
	return out
}

// The fixture's 15 live namespaces (old-test is being deleted).
const liveNamespaces = 15

var (
	all  = []string{"TCP/all", "UDP/all", "SCTP/all"}
	none = []string{}
)

// TestMatrixSamplesMatchIntent is the intended matrix of the render issue
// checked through the evaluator: with no foreign policy, Tierguard's
// rendered policies allow exactly what the profile intends, for every pair
// of namespaces and every sample.
func TestMatrixSamplesMatchIntent(t *testing.T) {
	samples, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type input struct{ profile, namespaces string }
	var inputs []input
	for _, s := range samples {
		if filepath.Base(s) != "kustomization.yaml" {
			inputs = append(inputs, input{s, namespacesList}, input{s, namespacesStream})
		}
	}
	inputs = append(inputs, input{"testdata/conflicts.yaml", "testdata/conflict-namespaces.yaml"})
	if len(inputs) < 5 {
		t.Fatalf("only %d inputs: the samples were not found", len(inputs))
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in.profile)+"+"+filepath.Base(in.namespaces), func(t *testing.T) {
			pairs := matrixJSON(t, "--profile-file", in.profile, "--namespaces", in.namespaces)
			allowed, denied := 0, 0
			for _, p := range pairs {
				if p.Differs {
					t.Errorf("%s -> %s differs: allowed %v, intended %v, by %v", p.From, p.To, p.Ports, p.IntendedPorts, p.Responsible)
				}
				if p.Allowed {
					allowed++
				} else {
					denied++
				}
			}
			// Guard against inputs that prove nothing.
			if allowed == 0 || denied == 0 {
				t.Errorf("%d allowed and %d denied pairs", allowed, denied)
			}
		})
	}
}

func TestMatrixJSONSample(t *testing.T) {
	pairs := matrixJSON(t, "--profile-file", sampleProfile, "--namespaces", namespacesList)
	if len(pairs) != liveNamespaces*liveNamespaces {
		t.Errorf("%d pairs, want %d", len(pairs), liveNamespaces*liveNamespaces)
	}
	want := []pairJSON{
		{From: "app-dev", To: "shop-test", Allowed: true, Ports: []string{"TCP/443"}, Policies: []string{"shop-test/tierguard-isolation"},
			Intended: true, IntendedPorts: []string{"TCP/443"}, Exact: true, FromTier: "dev", ToTier: "test"},
		{From: "shop-test", To: "app-dev", Ports: none, Policies: none, IntendedPorts: none, Exact: true, FromTier: "test", ToTier: "dev"},
		{From: "billing-prod", To: "shop-prod", Ports: none, Policies: none, IntendedPorts: none, Exact: true, FromTier: "prod", ToTier: "prod"},
		{From: "billing-prod", To: "billing-prod", Allowed: true, Ports: all, Policies: []string{"billing-prod/tierguard-isolation"},
			Intended: true, IntendedPorts: all, Exact: true, FromTier: "prod", ToTier: "prod"},
		{From: "app-dev", To: "sandbox", Allowed: true, Ports: all, Policies: []string{"sandbox/tierguard-isolation"},
			Intended: true, IntendedPorts: all, Exact: true, FromTier: "dev", ToTier: "dev"},
		{From: "monitoring", To: "shop-prod", Allowed: true, Ports: all, Policies: []string{"shop-prod/tierguard-isolation"},
			Intended: true, IntendedPorts: all, Exact: true, ToTier: "prod"},
		{From: "default", To: "shop-prod", Ports: none, Policies: none, IntendedPorts: none, Exact: true, ToTier: "prod"},
		{From: "shop-prod", To: "default", Allowed: true, Ports: all, Policies: none, Intended: true, IntendedPorts: all, Exact: true, FromTier: "prod"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, pairs[[2]string{w.From, w.To}]); diff != "" {
			t.Errorf("%s -> %s (-want +got):\n%s", w.From, w.To, diff)
		}
	}
}

func TestMatrixJSONForeignAllowAll(t *testing.T) {
	pairs := matrixJSON(t, "--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies)
	want := []pairJSON{
		{From: "app-dev", To: "billing-prod", Allowed: true, Ports: all, Policies: []string{"billing-prod/allow-all"},
			IntendedPorts: none, Differs: true, UnintendedPorts: all, Responsible: []string{"billing-prod/allow-all"},
			Exact: true, FromTier: "dev", ToTier: "prod"},
		{From: "default", To: "billing-prod", Allowed: true, Ports: all, Policies: []string{"billing-prod/allow-all"},
			IntendedPorts: none, Differs: true, UnintendedPorts: all, Responsible: []string{"billing-prod/allow-all"},
			Exact: true, ToTier: "prod"},
		// Shared namespaces may reach prod anyway: both policies allow it.
		{From: "monitoring", To: "billing-prod", Allowed: true, Ports: all,
			Policies: []string{"billing-prod/allow-all", "billing-prod/tierguard-isolation"},
			Intended: true, IntendedPorts: all, Exact: true, ToTier: "prod"},
		// The stale tierguard-isolation given for shop-prod is replaced.
		{From: "app-dev", To: "shop-prod", Ports: none, Policies: none, IntendedPorts: none, Exact: true, FromTier: "dev", ToTier: "prod"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, pairs[[2]string{w.From, w.To}]); diff != "" {
			t.Errorf("%s -> %s (-want +got):\n%s", w.From, w.To, diff)
		}
	}
	var differing []string
	for _, p := range pairs {
		if p.Differs {
			differing = append(differing, p.From+">"+p.To)
			if p.To != "billing-prod" {
				t.Errorf("%s -> %s differs; only billing-prod should", p.From, p.To)
			}
		}
	}
	// Every source but billing-prod itself and the two shared namespaces.
	if len(differing) != liveNamespaces-3 {
		t.Errorf("%d differing pairs, want %d: %v", len(differing), liveNamespaces-3, differing)
	}
}

// TestMatrixJSONEgressForeignAllowAll: with egress isolation, governed
// namespaces cannot use billing-prod's allow-all; ungoverned ones can.
func TestMatrixJSONEgressForeignAllowAll(t *testing.T) {
	pairs := matrixJSON(t, "--profile-file", egressSampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies)
	want := []pairJSON{
		{From: "app-dev", To: "billing-prod", Ports: none, Policies: none, IntendedPorts: none, Exact: true, FromTier: "dev", ToTier: "prod"},
		{From: "sandbox", To: "billing-prod", Allowed: true, Ports: all, Policies: []string{"billing-prod/allow-all"},
			IntendedPorts: none, Differs: true, UnintendedPorts: all, Responsible: []string{"billing-prod/allow-all"},
			Exact: true, ToTier: "prod"},
		// The flow test -> prod is on the named port https: the port of
		// that name is possible on both sides, for the pods that have it.
		{From: "qa", To: "shop-prod", Allowed: true, Ports: []string{`TCP/"https"`},
			Policies: []string{"qa/tierguard-isolation", "shop-prod/tierguard-isolation"},
			Intended: true, IntendedPorts: []string{`TCP/"https"`}, FromTier: "test", ToTier: "prod"},
		{From: "app-dev", To: "kube-system", Allowed: true, Ports: []string{"TCP/53", "UDP/53"}, Policies: []string{"app-dev/tierguard-isolation"},
			Intended: true, IntendedPorts: []string{"TCP/53", "UDP/53"}, FromTier: "dev"},
		{From: "app-dev", To: "shop-test", Allowed: true, Ports: []string{"TCP/443", "TCP/8000-8080"},
			Policies: []string{"app-dev/tierguard-isolation", "shop-test/tierguard-isolation"},
			Intended: true, IntendedPorts: []string{"TCP/443", "TCP/8000-8080"}, Exact: true, FromTier: "dev", ToTier: "test"},
		{From: "app-dev", To: "default", Ports: none, Policies: none, IntendedPorts: none, Exact: true, FromTier: "dev"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, pairs[[2]string{w.From, w.To}]); diff != "" {
			t.Errorf("%s -> %s (-want +got):\n%s", w.From, w.To, diff)
		}
	}
	for _, p := range pairs {
		if p.Differs && (p.FromTier != "" || p.To != "billing-prod") {
			t.Errorf("%s -> %s differs; only ungoverned sources to billing-prod should", p.From, p.To)
		}
	}
}

// TestMatrixHuman compares the human output with golden files, after
// checking what the issue asks of it.
func TestMatrixHuman(t *testing.T) {
	cases := []struct {
		golden string
		args   []string
		check  func(t *testing.T, out string)
	}{
		{
			golden: "sample", args: []string{"--profile-file", sampleProfile, "--namespaces", namespacesList},
			check: func(t *testing.T, out string) {
				mustContain(t, out, "\ndev           allow  TCP/443  deny   allow     allow\n", "No differences from the profile's intent.")
				for _, row := range []string{"dev", "test", "prod", "(shared)", "(ungoverned)"} {
					if cells := tableRow(t, out, row); strings.Contains(strings.Join(cells, " "), "!") {
						t.Errorf("row %s is marked: %v", row, cells)
					}
				}
			},
		},
		{
			golden: "sample-allow-all", args: []string{"--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies},
			check: func(t *testing.T, out string) {
				// Every row's prod cell is marked, nothing else.
				for _, row := range []string{"dev", "test", "prod", "(ungoverned)"} {
					cells := tableRow(t, out, row)
					if cells[3] != "allow*!" || strings.Contains(strings.Join(append(cells[1:3], cells[4:]...), " "), "!") {
						t.Errorf("row %s: %v, want only the prod cell marked", row, cells)
					}
				}
				mustContain(t, out, "Differences from the profile's intent:\n",
					"  app-dev (dev) -> billing-prod (prod): allows all ports (intended: deny); by billing-prod/allow-all\n")
			},
		},
		{
			golden: "egress-allow-all", args: []string{"--profile-file", egressSampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies},
			check: func(t *testing.T, out string) {
				if cells := tableRow(t, out, "dev"); cells[3] != "deny" {
					t.Errorf("row dev: %v: egress isolation keeps dev out of prod", cells)
				}
				if cells := tableRow(t, out, "(ungoverned)"); cells[3] != "allow*!" {
					t.Errorf("row (ungoverned): %v, want the prod cell marked", cells)
				}
				mustContain(t, out, "  sandbox (ungoverned) -> billing-prod (prod): allows all ports (intended: deny); by billing-prod/allow-all\n",
					`A named port is shown by its name (TCP/"https")`, "ipBlock peers match pods only inside the pod CIDRs 10.0.0.0/8")
			},
		},
		{
			golden: "sample-by-namespace", args: []string{"--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies, "--by-namespace"},
			check: func(t *testing.T, out string) {
				cells := tableRow(t, out, "app-dev")
				header := tableRow(t, out, `FROM\TO`)
				got := map[string]string{}
				for i, h := range header {
					got[h] = cells[i]
				}
				want := map[string]string{"app-dev": "allow", "shop-test": "TCP/443", "billing-prod": "allow!", "shop-prod": "deny", "default": "allow"}
				for ns, cell := range want {
					if got[ns] != cell {
						t.Errorf("app-dev -> %s: %q, want %q", ns, got[ns], cell)
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			r := runPlugin(t, "", append([]string{"matrix"}, tc.args...)...).mustSucceed(t)
			tc.check(t, r.stdout)
			if !strings.HasSuffix(r.stdout, "\nVerified at namespace level from the policies; whether the CNI enforces them is a property of the cluster.\n") {
				t.Errorf("the output does not end with the verification note:\n%s", r.stdout)
			}
			path := filepath.Join("testdata", "matrix", tc.golden+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), r.stdout); diff != "" {
				t.Errorf("output differs from %s (-golden +output); rerun with -update after review:\n%s", path, diff)
			}
		})
	}
}

// TestMatrixNamesBlockingPolicies: a policy that isolates egress where the
// profile does not blocks intended traffic, and is named.
func TestMatrixNamesBlockingPolicies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deny-egress.yaml")
	policy := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: app-dev}
spec: {podSelector: {}, policyTypes: [Egress]}
`
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	pairs := matrixJSON(t, "--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", path)
	want := pairJSON{From: "app-dev", To: "shop-test", Ports: none, Policies: none, Intended: true, IntendedPorts: []string{"TCP/443"},
		Differs: true, MissingPorts: []string{"TCP/443"}, Responsible: []string{"app-dev/deny-egress"}, Exact: true, FromTier: "dev", ToTier: "test"}
	if diff := cmp.Diff(want, pairs[[2]string{"app-dev", "shop-test"}]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, p := range pairs {
		if p.Differs != (p.From == "app-dev" && p.Intended) {
			t.Errorf("%s -> %s: differs %v", p.From, p.To, p.Differs)
		}
	}
}

// tableRow returns the cells of the table row whose first cell is name.
func tableRow(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name && !strings.HasPrefix(line, " ") {
			return f
		}
	}
	t.Fatalf("no table row %s in:\n%s", name, out)
	return nil
}

func mustContain(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

// TestMatrixAuditProfile: Tierguard writes nothing in Audit mode; offline,
// the matrix still shows the profile as if enforced, and says so.
func TestMatrixAuditProfile(t *testing.T) {
	data, err := os.ReadFile(sampleProfile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.yaml")
	audit := strings.Replace(string(data), "spec:\n", "spec:\n  mode: Audit\n", 1)
	if err := os.WriteFile(path, []byte(audit), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runPlugin(t, "", "matrix", "--profile-file", path, "--namespaces", namespacesList).mustSucceed(t).stdout
	mustContain(t, out, "Profile company (Audit)", "No differences from the profile's intent.",
		"The profile is in Audit mode: Tierguard writes no policies; this shows the profile as if enforced.\n"+
			"Verified at namespace level")
}

func TestMatrixHelp(t *testing.T) {
	r := runPlugin(t, "", "matrix", "--help")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	mustContain(t, r.stdout, "kubectl segmentation matrix [NAME | --profile NAME] (--from-cluster | --profile-file FILE --namespaces FILE [--policies FILE] [--cluster-network-policies FILE])",
		"--by-namespace", "--pod-cidr", "--kubeconfig")
}
