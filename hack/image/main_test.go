package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierguard/tierguard/hack/image/internal/testbin"
)

func noEnv(string) string { return "" }

// TestRunFromModuleDirectory runs the command as the Makefile does from hack/image, with
// paths relative to it, twice: the same binary gives the same config digest.
func TestRunFromModuleDirectory(t *testing.T) {
	binary := testbin.Static(t)
	var outputs []string // the config lines
	for range 2 {
		out := filepath.Join(t.TempDir(), "bin", "tierguard-image.tar")
		var stdout bytes.Buffer
		args := []string{"-dockerfile", "../../Dockerfile", "-binary", binary, "-tag", "localhost/tierguard:dev", "-o", out}
		if err := run(args, noEnv, &stdout); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stdout.String(), "image  localhost/tierguard:dev\nconfig sha256:") {
			t.Errorf("output %q", stdout.String())
		}
		outputs = append(outputs, strings.Split(stdout.String(), "\n")[1])
	}
	if outputs[0] != outputs[1] {
		t.Errorf("two runs differ: %s, %s", outputs[0], outputs[1])
	}
}

func TestRunRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "image.tar")
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"no mode", []string{"-binary", "b", "-tag", "t", "-o", out}, "", "either -dockerfile or -entrypoint"},
		{"both modes", []string{"-dockerfile", "D", "-entrypoint", "/p", "-binary", "b", "-tag", "t", "-o", out}, "", "either -dockerfile or -entrypoint"},
		{"user with a Dockerfile", []string{"-dockerfile", "D", "-user", "1", "-binary", "b", "-tag", "t", "-o", out}, "", "-user goes with -entrypoint"},
		{"no output", []string{"-entrypoint", "/p", "-binary", "b", "-tag", "t"}, "", "are required"},
		{"bad SOURCE_DATE_EPOCH", []string{"-entrypoint", "/p", "-binary", "b", "-tag", "t", "-o", out}, "yesterday", "SOURCE_DATE_EPOCH"},
		{"missing binary", []string{"-entrypoint", "/p", "-binary", "does-not-exist", "-tag", "t", "-o", out}, "", "does-not-exist"},
	} {
		getenv := func(string) string { return tc.env }
		err := run(tc.args, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for value, want := range map[string]int64{"": 0, "0": 0, "1700000000": 1700000000} {
		got, err := sourceDateEpoch(value)
		if err != nil || got.Unix() != want {
			t.Errorf("sourceDateEpoch(%q) = %s, %v; want %d", value, got, err, want)
		}
	}
	for _, value := range []string{"-1", "1.5", "now"} {
		if _, err := sourceDateEpoch(value); err == nil {
			t.Errorf("sourceDateEpoch(%q) accepted", value)
		}
	}
}
