package controlplane

import (
	"os/exec"
	"path/filepath"
)

// KubectlCmd returns a command running the assets directory's kubectl with
// the admin kubeconfig and args. When kubectl is missing, the command's Err
// says so and running it fails with that error.
func (c *ControlPlane) KubectlCmd(args ...string) *exec.Cmd {
	path, err := binaryPath(c.assetsDir, KubectlBinary)
	if err != nil {
		path = filepath.Join(c.assetsDir, KubectlBinary)
	}
	cmd := exec.Command(path, append([]string{"--kubeconfig=" + c.KubeconfigPath}, args...)...)
	if err != nil {
		cmd.Err = err
	}
	return cmd
}
