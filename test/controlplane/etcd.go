package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// etcdArgs returns the flags of a single-member etcd listening on loopback.
// fsync is off: the data survives restarts of the process, which is all a
// test control plane needs, and writes get much faster.
func etcdArgs(dataDir string, clientPort, peerPort int, extra []string) []string {
	clientURL := "http://" + hostPort(clientPort)
	peerURL := "http://" + hostPort(peerPort)
	args := []string{
		"--name=tierguard",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=tierguard=" + peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	return append(args, extra...)
}

// etcdHealthy checks etcd's /health endpoint.
func etcdHealthy(ctx context.Context, clientURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	var health struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("etcd /health: HTTP %d: %s", resp.StatusCode, body)
	}
	if health.Health != "true" {
		return fmt.Errorf("etcd /health: not healthy: %s", body)
	}
	return nil
}
