package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tierguard/tierguard/test/cluster"
	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
)

// The two modes, as the demo's first line names them.
const (
	realNodeMode  = "Real node: kubelet, containerd, kube-proxy and kube-router enforcing between real pods"
	planeOnlyMode = "Control plane only (no kubelet: policies are written and verified, not enforced; needs root and Linux for the real node)"
)

// probePodName is the probe pod of every namespace that gets one.
const probePodName = "probe"

// probeNamespaces get a probe pod: every tier's namespaces and the shared
// ones.
var probeNamespaces = []string{"team-a-dev", "sandbox", "team-a-test", "team-b-test", "payments-prod", "billing-prod", "ingress-nginx", "monitoring"}

// probePodTemplate runs the probe's server (test/dataplane/probe) as a
// workload the restricted Pod Security level admits, which prod gets:
// non-root, no capabilities, no privilege escalation, the runtime's seccomp
// profile. Port 443 is opened by the safe sysctl
// net.ipv4.ip_unprivileged_port_start, not by a capability. The image is
// imported into the node's containerd, never pulled.
const probePodTemplate = `apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: %[2]s
  labels: {app: %[1]s}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
    sysctls:
    - {name: net.ipv4.ip_unprivileged_port_start, value: "0"}
  containers:
  - name: probe
    image: %[3]s
    imagePullPolicy: Never
    args: [serve, --name, %[2]s, --tcp, "%[4]d,%[5]d"]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
---
`

// startCluster starts the real-node bed (test/cluster) and uses its control
// plane as plane-only mode uses its own.
func (d *demo) startCluster(ctx context.Context) error {
	d.out.heading("Starting a single-node cluster on this machine (test/cluster)")
	d.out.note("etcd, kube-apiserver and kube-controller-manager on this machine's address, kube-scheduler, a kubelet with\ncontainerd and the bridge CNI, kube-proxy, and kube-router as the NetworkPolicy engine. Pod traffic never leaves\nthe machine, and everything the cluster changes on it is removed when the demo stops.")
	// -stop finds this process while the cluster starts (it may wait for
	// another run of a host bed to finish).
	if err := writeStartingState(filepath.Join(d.absDir, stateFileName)); err != nil {
		return err
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	began := time.Now()
	c, err := cluster.Up(ctx, cluster.Options{RepoRoot: root, Logf: d.out.logf})
	d.node = c // Down also after a failed Up
	if err != nil {
		return err
	}
	if err := d.usePlane(c.Plane); err != nil {
		return err
	}
	d.out.note("Node %s Ready in %s, at %s. Every command below runs with KUBECONFIG=%s (an admin).",
		cluster.NodeName, time.Since(began).Round(100*time.Millisecond), c.NodeIP, d.rel(c.Plane.KubeconfigPath))
	return nil
}

// writeStartingState records this process in the state file before the
// control plane exists.
func writeStartingState(path string) error {
	data, err := json.Marshal(controlplane.State{PID: os.Getpid()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return os.WriteFile(path, data, 0o644)
}

// startProbes starts a probe server in every tier and shared namespace,
// before Tierguard exists, and shows that without policies every pod
// reaches every other.
func (d *demo) startProbes(ctx context.Context) error {
	d.out.heading("Real pods: a probe server in every tier and shared namespace, before Tierguard")
	d.out.note("Each pod runs test/dataplane/probe (image %s, imported into the node's containerd) and answers\nTCP %d and %d with its namespace's name. The pods meet the restricted Pod Security level that prod will get.",
		cluster.ProbeImage, flowPort, closedPort)
	var manifest strings.Builder
	for _, ns := range probeNamespaces {
		// A pod is admitted only once its namespace's default ServiceAccount exists.
		err := harness.WaitFor(ctx, "ServiceAccount "+ns+"/default", time.Minute, nil, func(ctx context.Context) error {
			_, err := d.node.Clientset.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(&manifest, probePodTemplate, probePodName, ns, cluster.ProbeImage, flowPort, closedPort)
	}
	path := filepath.Join(d.dir, "probes.yaml")
	if err := os.WriteFile(path, []byte(manifest.String()), 0o644); err != nil {
		return fmt.Errorf("write probe pods: %w", err)
	}
	if _, err := d.kubectl.Run(ctx, "apply", "-f", path); err != nil {
		return err
	}
	if _, err := d.kubectl.Wait(ctx, 2*time.Minute, "--for=condition=Ready", "pods", "-l", "app="+probePodName, "--all-namespaces"); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "get", "pods", "--all-namespaces", "-l", "app="+probePodName, "-o", "wide"); err != nil {
		return err
	}
	d.podIPs = map[string]string{}
	for _, ns := range probeNamespaces {
		pod, err := d.node.Clientset.CoreV1().Pods(ns).Get(ctx, probePodName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Status.PodIP == "" {
			return fmt.Errorf("pod %s/%s has no IP", ns, probePodName)
		}
		d.podIPs[ns] = pod.Status.PodIP
	}
	d.out.note("\nNo NetworkPolicy exists yet, so dev reaches prod:")
	return d.expectConnections(ctx, connection{"team-a-dev", "payments-prod", closedPort, true, "no policy yet: every pod reaches every pod"})
}

// realTraffic measures each rule of the sample profile between real pods.
func (d *demo) realTraffic(ctx context.Context) error {
	d.out.heading("Real traffic between real pods")
	d.out.note("kube-router turns the NetworkPolicies into iptables rules on the node. Each command is what you would type;\nthe probe prints one JSON line per target (open only when the peer's name came back), then the verdict.\nThe expectations are the sample profile's, written out by hand: a wrong verdict fails the demo.")
	return d.expectConnections(ctx, sampleConnections...)
}

// stopNode stops the cluster and removes the demo's work dir, which holds
// only files the demo wrote (the cluster keeps its own elsewhere).
func (d *demo) stopNode() error {
	err := d.node.Down()
	if err == nil {
		err = os.RemoveAll(d.absDir)
	}
	return err
}

// printNodeUsage tells how to use and stop the cluster left running.
func (d *demo) printNodeUsage() {
	d.out.heading("The demo cluster keeps running")
	d.out.note("Use it from another shell (the PATH line puts first a kubectl of the API server's version):\n\n"+
		"    export KUBECONFIG=%s\n    export PATH=%s:$PATH\n    kubectl get segmentationprofiles\n    kubectl get pods -A -l app=%s -o wide\n"+
		"    kubectl exec -n team-a-dev %s -- /probe dial --timeout %s tcp:%s:%d\n\n"+
		"Manager: pid %d, as %s, log %s, metrics %s\n"+
		"Node and control plane logs: %s, %s\n\n"+
		"Stop it with `make demo-stop`, Ctrl-C here, or `kill %d`: that removes everything the cluster changed on this machine.",
		d.cp.KubeconfigPath, filepath.Dir(d.kubectl.Path), probePodName,
		probePodName, dialTimeout, d.podIPs["payments-prod"], closedPort,
		d.manager.PID(), harness.ManagerUser, d.manager.LogPath, d.manager.MetricsURL,
		d.node.LogDir(), filepath.Dir(d.cp.APIServerLogPath), os.Getpid())
}
