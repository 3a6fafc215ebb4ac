package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Names of the control plane binaries in the assets directory.
const (
	EtcdBinary              = "etcd"
	APIServerBinary         = "kube-apiserver"
	ControllerManagerBinary = "kube-controller-manager"
	KubectlBinary           = "kubectl"
)

// KubernetesVersion is the version `make envtest-assets` builds
// (ENVTEST_K8S_VERSION), which names DefaultAssetsDir.
const KubernetesVersion = "1.37.2"

// AssetsEnv names the assets directory, as setup-envtest and
// controller-runtime's envtest use it.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// ErrMissingBinary is wrapped by the errors that report a binary absent from
// the assets directory.
var ErrMissingBinary = errors.New("control plane binary missing")

// DefaultAssetsDir returns where `make envtest-assets` puts the binaries:
// $HOME/.local/share/kubebuilder-envtest/k8s/<version>-<GOOS>-<GOARCH>.
func DefaultAssetsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.Getenv("HOME")
	}
	return filepath.Join(home, ".local", "share", "kubebuilder-envtest", "k8s", KubernetesVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
}

// ResolveAssetsDir returns dir when it is not empty, else $KUBEBUILDER_ASSETS
// when set, else DefaultAssetsDir().
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
// tells how to build them.
func CheckAssets(dir string, binaries ...string) error {
	if len(binaries) == 0 {
		binaries = []string{EtcdBinary, APIServerBinary, ControllerManagerBinary, KubectlBinary}
	}
	var missing []string
	for _, name := range binaries {
		if _, err := BinaryPath(dir, name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v not found in %s (run `make envtest-assets` to build them from source, or set %s to a directory that holds them)",
			ErrMissingBinary, missing, dir, AssetsEnv)
	}
	return nil
}

// BinaryPath returns the path of the executable name in dir.
func BinaryPath(dir, name string) (string, error) {
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
