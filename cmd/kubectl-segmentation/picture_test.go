package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMatrixPicture compares matrix -o dot and -o mermaid with golden
// files: the README's example, the sample with a foreign allow-all in
// billing-prod, whose holes all end on that one namespace.
func TestMatrixPicture(t *testing.T) {
	args := []string{"matrix", "--profile-file", sampleProfile, "--namespaces", namespacesList, "--policies", allowAllPolicies}
	for _, format := range []struct{ output, ext string }{{"dot", "dot"}, {"mermaid", "mmd"}} {
		t.Run(format.output, func(t *testing.T) {
			out := runPlugin(t, "", append(args, "-o", format.output)...).mustSucceed(t).stdout
			// Every hole ends on billing-prod, drawn inside prod, and names
			// the allow-all; the sources are whole groups but for shop-prod.
			mustContain(t, out, "billing-prod", "shop-prod", "by billing-prod/allow-all", "TCP/443")
			if strings.Contains(out, "app-dev") {
				t.Errorf("app-dev is drawn, though every namespace of dev is in the hole:\n%s", out)
			}
			path := filepath.Join("testdata", "matrix", "sample-allow-all."+format.ext)
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), out); diff != "" {
				t.Errorf("output differs from %s (-golden +output); rerun with -update after review:\n%s", path, diff)
			}
			if format.output == "dot" {
				renderDOT(t, out)
			}
		})
	}
}

// renderDOT has Graphviz draw the graph, as the README's picture is drawn;
// it skips without Graphviz.
func renderDOT(t *testing.T, dot string) {
	t.Helper()
	bin, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz's dot is not on PATH, so the DOT output is not drawn (apt-get install graphviz to check it)")
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "billing&#45;prod/allow&#45;all") {
		t.Errorf("the drawing lacks the hole's label")
	}
}

// TestRenderProfileFileFlag: --profile-file is the file flag matrix has,
// and --profile its older name, with the same output.
func TestRenderProfileFileFlag(t *testing.T) {
	old := runPlugin(t, "", "render", "--profile", sampleProfile, "--namespaces", namespacesList).mustSucceed(t)
	renamed := runPlugin(t, "", "render", "--profile-file", sampleProfile, "--namespaces", namespacesList).mustSucceed(t)
	if old.stdout != renamed.stdout || old.stderr != renamed.stderr {
		t.Errorf("--profile-file renders otherwise than --profile")
	}
}

// TestCompletion: the root offers shell completion scripts, and
// __complete, which kubectl_complete-segmentation calls, completes the
// subcommands.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := runPlugin(t, "", "completion", shell).mustSucceed(t); !strings.Contains(r.stdout, "kubectl-segmentation") {
			t.Errorf("completion %s: no script", shell)
		}
	}
	r := runPlugin(t, "", "__complete", "").mustSucceed(t)
	mustContain(t, r.stdout, "matrix\t", "render\t", "status\t")
	// Without a reachable cluster a NAME completes to nothing, and never
	// to files.
	r = runPlugin(t, "", "__complete", "status", "--server", "https://127.0.0.1:1", "--request-timeout", "1s", "")
	mustContain(t, r.stdout, ":4\n") // ShellCompDirectiveNoFileComp
}
