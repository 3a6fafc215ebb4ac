package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tierguard/tierguard/test/harness"
)

// etcdArgs returns the flags of a single-member etcd listening on loopback.
// fsync is off: the data survives restarts of the process, which is all a
// test control plane needs, and writes get much faster.
func etcdArgs(dataDir string, clientPort, peerPort int, extra []string) []string {
	clientURL := "http://" + harness.LoopbackAddr(clientPort)
	peerURL := "http://" + harness.LoopbackAddr(peerPort)
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
	var body bytes.Buffer
	if err := harness.HTTPGet(ctx, clientURL+"/health", &body); err != nil {
		return err
	}
	var health struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body.Bytes(), &health); err != nil || health.Health != "true" {
		return fmt.Errorf("etcd /health: not healthy: %s", body.String())
	}
	return nil
}
