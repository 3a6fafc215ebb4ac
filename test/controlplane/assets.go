package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the binaries the control plane runs, as found in the assets directory.
const (
	EtcdBinary              = "etcd"
	APIServerBinary         = "kube-apiserver"
	ControllerManagerBinary = "kube-controller-manager"
	KubectlBinary           = "kubectl"
)

// DefaultKubernetesVersion is the Kubernetes version that hack/envtest builds
// and whose assets directory DefaultAssetsDir points to.
const DefaultKubernetesVersion = "1.37.2"

// AssetsEnv is the environment variable that names the assets directory, as
// setup-envtest and controller-runtime's envtest use it.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// ErrMissingBinary is wrapped by the errors that report a binary absent from
// the assets directory; test it with errors.Is to skip a test.
var ErrMissingBinary = errors.New("control plane binary missing")

// DefaultAssetsDir returns the directory where `make envtest-assets` puts the
// binaries: $HOME/.local/share/kubebuilder-envtest/k8s/<version>-linux-amd64.
func DefaultAssetsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.Getenv("HOME")
	}
	return filepath.Join(home, ".local", "share", "kubebuilder-envtest", "k8s", DefaultKubernetesVersion+"-linux-amd64")
}

// ResolveAssetsDir returns dir when it is not empty, else the value of
// KUBEBUILDER_ASSETS when set, else DefaultAssetsDir().
func ResolveAssetsDir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(AssetsEnv); env != "" {
		return env
	}
	return DefaultAssetsDir()
}

// CheckAssets reports whether every named binary (all four when none is
// named) is an executable file in dir. The error wraps ErrMissingBinary and
// tells the user how to build the binaries.
func CheckAssets(dir string, binaries ...string) error {
	if len(binaries) == 0 {
		binaries = []string{EtcdBinary, APIServerBinary, ControllerManagerBinary, KubectlBinary}
	}
	var missing []string
	for _, name := range binaries {
		if _, err := binaryPath(dir, name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v not found in %s (set %s or Options.AssetsDir, or run `make envtest-assets` to build them)",
			ErrMissingBinary, missing, dir, AssetsEnv)
	}
	return nil
}

// binaryPath returns the path of an executable binary in dir.
func binaryPath(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w (run `make envtest-assets` to build it)", ErrMissingBinary, path, err)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s is not an executable file (run `make envtest-assets` to build it)", ErrMissingBinary, path)
	}
	return path, nil
}
