package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tierguard/tierguard/test/harness"
)

// State describes a running control plane for another process, such as a
// shell that needs the kubeconfig of a plane that hack/controlplane started.
type State struct {
	// PID is the process id of the program that started the plane.
	PID int `json:"pid"`
	// Kubeconfig is the admin kubeconfig path.
	Kubeconfig string `json:"kubeconfig"`
	// APIServerURL is the https URL of the API server.
	APIServerURL string `json:"apiServerURL"`
	// EtcdURL is the http URL of etcd.
	EtcdURL string `json:"etcdURL"`
	// WorkDir holds the plane's data, certificates, kubeconfigs and logs.
	WorkDir string `json:"workDir"`
	// CACert is the path of the CA certificate.
	CACert string `json:"caCert"`
	// PIDs are the components' process ids by binary name.
	PIDs map[string]int `json:"pids"`
	// Logs are the components' log file paths by binary name.
	Logs map[string]string `json:"logs"`
}

// State returns the current State of the plane, PID being this process.
func (c *ControlPlane) State() State {
	logs := map[string]string{harness.EtcdBinary: c.EtcdLogPath, harness.APIServerBinary: c.APIServerLogPath}
	if c.ControllerManagerLogPath != "" {
		logs[harness.ControllerManagerBinary] = c.ControllerManagerLogPath
	}
	return State{
		PID:          os.Getpid(),
		Kubeconfig:   c.KubeconfigPath,
		APIServerURL: c.APIServerURL,
		EtcdURL:      c.EtcdURL,
		WorkDir:      c.WorkDir,
		CACert:       c.CACertPath,
		PIDs:         c.PIDs(),
		Logs:         logs,
	}
}

// WriteStateFile writes the plane's State as JSON to path, atomically, so a
// reader that sees the file sees all of it.
func (c *ControlPlane) WriteStateFile(path string) error {
	data, err := json.MarshalIndent(c.State(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return writeFile(path, append(data, '\n'), 0o644)
}

// ReadStateFile reads a State that WriteStateFile wrote.
func ReadStateFile(path string) (State, error) {
	var s State
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read state file: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("decode state file %s: %w", path, err)
	}
	return s, nil
}
