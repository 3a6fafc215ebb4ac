package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// build makes sure the node's binaries and kube-router exist (building them
// once when missing), and builds the pause and probe images into the work
// dir.
func (c *Cluster) build(ctx context.Context) error {
	needed := []string{KubeletBinary, SchedulerBinary, ProxyBinary}
	for _, p := range cniPlugins {
		needed = append(needed, filepath.Join("cni", p))
	}
	if harness.CheckAssets(c.assetsDir, append(needed, harness.EtcdBinary, harness.APIServerBinary, harness.ControllerManagerBinary, harness.KubectlBinary)...) != nil {
		c.opts.Logf("Building the node's binaries into %s (first run only; minutes when the control plane's build is cached)", c.assetsDir)
		cmd := exec.CommandContext(ctx, filepath.Join(c.opts.RepoRoot, "hack", "envtest", "build.sh"), "node")
		cmd.Env = append(os.Environ(), "ENVTEST_ASSETS_DIR="+c.assetsDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build the node's binaries: %w\n%s", err, out)
		}
	}
	if !c.opts.NoPolicyEngine {
		if _, err := hostbed.EnsureKubeRouter(c.opts.RepoRoot, c.opts.Logf); err != nil {
			return err
		}
	}
	for _, dir := range []string{c.LogDir(), c.path("images"), c.path("bin")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for _, img := range []struct{ name, pkg, image string }{
		{"pause", "./test/cluster/pause", PauseImage},
		{"probe", "./test/dataplane/probe", ProbeImage},
	} {
		bin := c.path("bin", img.name)
		if err := StaticBuild(ctx, c.opts.RepoRoot, img.pkg, bin); err != nil {
			return err
		}
		if err := BuildImage(ctx, c.opts.RepoRoot, ImageSpec{Binary: bin, Entrypoint: "/" + img.name, Tag: img.image}, c.path("images", img.name+".tar")); err != nil {
			return err
		}
	}
	return nil
}

// StaticBuild builds the main package pkg of the repository at repoRoot into
// out as a static binary (the images have no libc).
func StaticBuild(ctx context.Context, repoRoot, pkg, out string, ldflags ...string) error {
	flags := strings.Join(append([]string{"-s", "-w"}, ldflags...), " ")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", flags, "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	return nil
}

// ImageSpec describes an image built by hack/image from a static binary.
type ImageSpec struct {
	// Binary is the static binary.
	Binary string
	// Dockerfile, when set, defines the image (its final stage); else the
	// binary is placed at Entrypoint and runs as 65532:65532.
	Dockerfile string
	Entrypoint string
	// Tag names the image, for example localhost/tierguard:bed.
	Tag string
}

// BuildImage builds the image spec describes into the docker-format tarball
// out, with hack/image (go-containerregistry; no Docker daemon).
func BuildImage(ctx context.Context, repoRoot string, spec ImageSpec, out string) error {
	args := []string{"run", ".", "-binary", spec.Binary, "-tag", spec.Tag, "-o", out}
	if spec.Dockerfile != "" {
		args = append(args, "-dockerfile", spec.Dockerfile)
	} else {
		args = append(args, "-entrypoint", spec.Entrypoint, "-user", "65532:65532")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(repoRoot, "hack", "image")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build image %s: %w\n%s", spec.Tag, err, output)
	}
	return nil
}

// writeIfChanged writes content to path only when it differs (6: kube-proxy
// exits when its configuration file is rewritten), in place (7: containerd
// 1.6 misses a CNI configuration renamed into place).
func writeIfChanged(path, content string) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return nil
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
