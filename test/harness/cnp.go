package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ClusterNetworkPolicyCRDName is the CRD of ClusterNetworkPolicy.
const ClusterNetworkPolicyCRDName = "clusternetworkpolicies.policy.networking.k8s.io"

// ClusterNetworkPolicyCRD returns the path of the ClusterNetworkPolicy CRD
// (standard channel) of the network-policy-api module go.mod pins: the
// tests install exactly the version Tierguard is built against, with no
// download.
func ClusterNetworkPolicyCRD() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/network-policy-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate sigs.k8s.io/network-policy-api: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard",
		"policy.networking.k8s.io_clusternetworkpolicies.yaml"), nil
}

// InstallClusterNetworkPolicyCRD applies the pinned ClusterNetworkPolicy
// CRD with kubectl and waits until it is established.
func InstallClusterNetworkPolicyCRD(ctx context.Context, k Kubectl) error {
	path, err := ClusterNetworkPolicyCRD()
	if err != nil {
		return err
	}
	if _, err := k.Run(ctx, "apply", "--server-side", "-f", path); err != nil {
		return fmt.Errorf("install ClusterNetworkPolicy CRD: %w", err)
	}
	if _, err := k.Wait(ctx, time.Minute, "--for=condition=Established", "crd/"+ClusterNetworkPolicyCRDName); err != nil {
		return fmt.Errorf("install ClusterNetworkPolicy CRD: %w", err)
	}
	return nil
}
