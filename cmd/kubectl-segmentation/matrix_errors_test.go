package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cli"
)

// unreachable is a server nothing listens on: commands that need the
// cluster fail fast, as with a cluster that is down.
const unreachable = "https://127.0.0.1:1"

func TestMatrixAndStatusUsageErrors(t *testing.T) {
	offline := []string{"--profile-file", sampleProfile, "--namespaces", namespacesList}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"matrix"}, "at least one of the flags in the group [from-cluster profile-file] is required"},
		{"profile file without namespaces", []string{"matrix", "--profile-file", sampleProfile}, "[profile-file namespaces] are set they must all be set; missing [namespaces]"},
		{"profile name with a file", append([]string{"matrix", "--profile", "company"}, offline...), "[profile profile-file] were all set"},
		{"policies from the cluster", []string{"matrix", "--from-cluster", "--policies", "x.yaml"}, "[from-cluster policies] were all set"},
		{"both inputs", append([]string{"matrix", "--from-cluster"}, offline...), "none of the others can be"},
		{"unknown output", append([]string{"matrix", "-o", "yaml"}, offline...), `--output must be one of table, json, dot, mermaid, not "yaml"`},
		{"stdin twice", []string{"matrix", "--profile-file", "-", "--namespaces", "-"}, "only one of --profile-file, --namespaces, --policies and --cluster-network-policies can read stdin"},
		{"bad pod CIDR", append([]string{"matrix", "--pod-cidr", "10.0.0.0"}, offline...), "--pod-cidr"},
		{"profile name with a file", append([]string{"matrix", "company"}, offline...), "a profile NAME is read from the cluster, with its namespaces and policies: --profile-file is for files"},
		{"profile name with policies", []string{"matrix", "company", "--policies", "x.yaml"}, "--policies is for files"},
		{"two different profile names", []string{"matrix", "company", "--profile", "other"}, `the profile is named twice: "company" and --profile "other"`},
		{"two profile names", []string{"matrix", "a", "b"}, "accepts at most 1 arg(s), received 2"},
		{"status without a name", []string{"status"}, "accepts 1 arg(s), received 0"},
		{"status with two names", []string{"status", "a", "b"}, "accepts 1 arg(s), received 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlugin(t, "", tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage.") {
				t.Errorf("stderr %q, want it to contain %q and point to --help", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestMatrixAndStatusInvalidInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	badPort := write("bad-port.yaml", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: app-dev}
spec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}
`)
	namespace := write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
	offline := []string{"matrix", "--profile-file", sampleProfile, "--namespaces", namespacesList}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"invalid profile", []string{"matrix", "--profile-file", "testdata/invalid/duplicate-tier.yaml", "--namespaces", namespacesList}, "tier names must be unique"},
		{"missing policies file", append(offline, "--policies", filepath.Join(dir, "none.yaml")), "no such file"},
		{"a Namespace among the policies", append(offline, "--policies", namespace), "reading policies"},
		{"a policy no API server accepts", append(offline, "--policies", badPort), "invalid NetworkPolicies: policy app-dev/bad"},
		{"matrix: cluster unreachable", []string{"matrix", "--from-cluster", "--server", unreachable}, "connection refused"},
		{"status: cluster unreachable", []string{"status", "company", "--server", unreachable}, "getting SegmentationProfile company"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlugin(t, "", tc.args...)
			if r.code != exitInvalid {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, exitInvalid, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q, want an error containing %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestMatrixReadsStdin(t *testing.T) {
	data, err := os.ReadFile(allowAllPolicies)
	if err != nil {
		t.Fatal(err)
	}
	fromStdin := runPlugin(t, string(data), "matrix", "--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", "-").mustSucceed(t)
	fromFile := runPlugin(t, "", "matrix", "--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies).mustSucceed(t)
	if fromStdin.stdout != fromFile.stdout {
		t.Errorf("reading policies from stdin changed the result")
	}
}

func TestChooseProfile(t *testing.T) {
	profile := func(name string) segv1.SegmentationProfile {
		return segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	one := &cli.ClusterState{Profiles: []segv1.SegmentationProfile{profile("company")}}
	two := &cli.ClusterState{Profiles: []segv1.SegmentationProfile{profile("a"), profile("b")}}
	cases := []struct {
		name  string
		state *cli.ClusterState
		flag  string
		want  string // the chosen profile, or a part of the error
		usage bool
	}{
		{"the only profile", one, "", "company", false},
		{"named", two, "b", "b", false},
		{"several, none named", two, "", "the cluster has 2 SegmentationProfiles (a, b): choose one with --profile", true},
		{"named but absent", one, "other", `SegmentationProfile "other" not found`, false},
		{"none at all", &cli.ClusterState{}, "", "the cluster has no SegmentationProfile", false},
		{"no CRD", &cli.ClusterState{CRDMissing: true}, "company", "does not serve SegmentationProfiles", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := chooseProfile(tc.state, tc.flag)
			if err == nil {
				if p.Name != tc.want {
					t.Errorf("chose %s, want %s", p.Name, tc.want)
				}
				return
			}
			var input inputError
			if !strings.Contains(err.Error(), tc.want) || errors.As(err, &input) == tc.usage {
				t.Errorf("error %v (input error: %v), want %q as a usage error: %v", err, errors.As(err, &input), tc.want, tc.usage)
			}
		})
	}
}
