package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Paths of shared fixtures, relative to this package.
const (
	sampleProfile       = "../../config/samples/segmentation_v1alpha1_segmentationprofile.yaml"
	egressSampleProfile = "../../config/samples/segmentation_v1alpha1_segmentationprofile_egress.yaml"
	namespacesList      = "../../internal/render/testdata/namespaces.yaml"
	namespacesStream    = "testdata/namespaces-stream.yaml"
)

// result is what one run of the plugin produced.
type result struct {
	stdout, stderr string
	code           int
}

// runPlugin runs the plugin in process, as main would, with stdin.
func runPlugin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, genericiooptions.IOStreams{
		In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut,
	})
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// mustSucceed fails the test unless the run exited 0.
func (r result) mustSucceed(t *testing.T) result {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	return r
}

// lines splits output into lines, without the empty one after the last
// newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
