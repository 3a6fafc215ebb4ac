package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidProfiles renders each profile of testdata/invalid and expects
// exit code 1 with the message in the .txt beside it. Those messages were
// captured from a real kube-apiserver v1.37.2 serving this CRD (a dry-run
// create with fieldValidation=Strict, formatted as kubectl prints it), so
// this test proves the plugin refuses what admission refuses, in the same
// words. One difference is deliberate: where the API server lists several
// schema errors in a varying order, the plugin sorts them by field.
func TestInvalidProfiles(t *testing.T) {
	profiles, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) < 5 {
		t.Fatalf("only %d invalid profiles in testdata/invalid", len(profiles))
	}
	for _, profile := range profiles {
		name := strings.TrimSuffix(filepath.Base(profile), ".yaml")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(profile, ".yaml") + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			r := runPlugin(t, "", "render", "--profile", profile, "--namespaces", namespacesList)
			if r.code != exitInvalid {
				t.Errorf("exit code %d, want %d", r.code, exitInvalid)
			}
			if r.stdout != "" {
				t.Errorf("an invalid profile rendered:\n%s", r.stdout)
			}
			if got := strings.TrimPrefix(r.stderr, "error: "); got != string(want) {
				t.Errorf("stderr:\n%s\nwant admission's message:\n%s", r.stderr, want)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	twoProfiles := write("two.yaml", "kind: SegmentationProfile\n---\nkind: SegmentationProfile\n")
	pod := write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
	twice := write("twice.yaml", "kind: Namespace\napiVersion: v1\nmetadata: {name: a}\n---\nkind: Namespace\napiVersion: v1\nmetadata: {name: a}\n")
	broken := write("broken.yaml", "kind: Namespace\n  metadata: [\n")
	cases := []struct {
		name string
		args []string
		want string // a part of stderr
	}{
		{"missing profile file", []string{"--profile", filepath.Join(dir, "none.yaml"), "--namespaces", namespacesList}, "no such file"},
		{"two documents in the profile file", []string{"--profile", twoProfiles, "--namespaces", namespacesList}, "expected exactly one SegmentationProfile, found 2 documents"},
		{"a profile of another kind", []string{"--profile", pod, "--namespaces", namespacesList}, `kind: Invalid value: "Pod": must be SegmentationProfile`},
		{"missing namespaces file", []string{"--profile", sampleProfile, "--namespaces", filepath.Join(dir, "none.yaml")}, "no such file"},
		{"a Pod among the namespaces", []string{"--profile", sampleProfile, "--namespaces", pod}, "expected a v1 Namespace, got v1 Pod"},
		{"a namespace listed twice", []string{"--profile", sampleProfile, "--namespaces", twice}, `namespace "a" is listed twice`},
		{"malformed YAML", []string{"--profile", sampleProfile, "--namespaces", broken}, "reading namespaces"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlugin(t, "", append([]string{"render"}, tc.args...)...)
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

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // a part of stderr
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"apply"}, `unknown command "apply"`},
		{"unknown flag", []string{"render", "--profil", sampleProfile}, "unknown flag: --profil"},
		{"missing --profile", []string{"render", "--namespaces", namespacesList}, "a profile is required: NAME (of the cluster) or --profile-file FILE"},
		{"both profile flags", []string{"render", "--profile", sampleProfile, "--profile-file", sampleProfile, "--namespaces", namespacesList}, "[profile profile-file] were all set"},
		{"neither input", []string{"render", "--profile", sampleProfile}, "at least one of the flags in the group [namespaces from-cluster] is required"},
		{"both inputs", []string{"render", "--profile", sampleProfile, "--namespaces", namespacesList, "--from-cluster"}, "none of the others can be"},
		{"unknown output format", []string{"render", "--profile", sampleProfile, "--namespaces", namespacesList, "-o", "wide"}, `--output must be yaml or json, not "wide"`},
		{"profile name and file", []string{"render", "company", "--profile", sampleProfile}, "a profile NAME is read from the cluster, with its namespaces: --profile is for files"},
		{"profile name and namespaces file", []string{"render", "company", "--namespaces", namespacesList}, "--namespaces is for files"},
		{"two profile names", []string{"render", "a", "b"}, "accepts at most 1 arg(s), received 2"},
		{"stdin twice", []string{"render", "--profile", "-", "--namespaces", "-"}, "cannot both read stdin"},
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

func TestHelp(t *testing.T) {
	r := runPlugin(t, "", "render", "--help")
	if r.code != exitOK || !strings.Contains(r.stdout, "kubectl segmentation render (NAME | --profile-file FILE (--namespaces FILE | --from-cluster))") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "--kubeconfig") {
		t.Errorf("help does not list the kubeconfig flags:\n%s", r.stdout)
	}
}
