package harness

import (
	"errors"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Envtest is an etcd and kube-apiserver that StartEnvtest started, with
// Tierguard's CRD installed. Stop it when done.
type Envtest struct {
	*envtest.Environment
	// Config and Client act as the administrator; Client knows Scheme.
	Config *rest.Config
	Client client.Client
}

// StartEnvtest starts etcd and kube-apiserver from the assets directory
// with controller-runtime's envtest, the one boot of the envtest suites,
// and installs the CRD of config/crd/bases.
func StartEnvtest() (*Envtest, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := ResolveAssetsDir("")
	if err := CheckAssets(assets, EtcdBinary, APIServerBinary); err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	env := &Envtest{Environment: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}}
	if env.Config, err = env.Start(); err != nil {
		return nil, fmt.Errorf("start envtest with the CRD of config/crd/bases: %w", err)
	}
	if env.Client, err = NewClient(env.Config); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return env, nil
}
