package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryExitCodes builds the plugin and runs it as kubectl would, since
// the exit code is only real once main has called os.Exit.
func TestBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kubectl-segmentation")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"render", []string{"render", "--profile", sampleProfile, "--namespaces", namespacesList}, exitOK, "Warning: namespace legacy skipped"},
		{"invalid profile", []string{"render", "--profile", "testdata/invalid/duplicate-tier.yaml", "--namespaces", namespacesList}, exitInvalid, "tier names must be unique"},
		{"usage error", []string{"render", "--profile", sampleProfile}, exitUsage, "for usage."},
		{"matrix", []string{"matrix", "--profile-file", sampleProfile, "--namespaces", namespacesList}, exitOK, "Warning: namespace legacy skipped"},
		{"matrix usage error", []string{"matrix", "--profile-file", sampleProfile}, exitUsage, "for usage."},
		{"status usage error", []string{"status"}, exitUsage, "for usage."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// TestKubectlPluginCompletion has kubectl complete `kubectl segmentation`
// through hack/krew/kubectl_complete-segmentation, as a shell would. It
// needs kubectl, taken from KUBEBUILDER_ASSETS or PATH.
func TestKubectlPluginCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	kubectl, err := exec.LookPath(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"))
	if err != nil {
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			t.Skip("no kubectl in KUBEBUILDER_ASSETS or on PATH")
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-segmentation"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	helper, err := os.ReadFile("../../hack/krew/kubectl_complete-segmentation")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-segmentation"), helper, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "__complete", "segmentation", "ma")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "matrix\t") {
		t.Errorf("kubectl __complete segmentation ma: %v, %q; want matrix", err, out)
	}
}
