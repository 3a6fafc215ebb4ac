package cluster

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tierguard/tierguard/test/controlplane"
)

// The node's settings, in one place. Each value that differs from a
// component's default says why; the numbered ones are those of
// ../shared/REALNODE.md, each of which fixed a real failure on these machines.
const (
	// NodeName is the node's name (kubelet --hostname-override).
	NodeName = "tg-node"
	// PodCIDR is the pods' range on the bridge. It is the dataplane suite's
	// range too: the beds share the run lock, never run at once, and each
	// removes the other's leftovers first.
	PodCIDR = "10.244.0.0/24"
	// ServiceCIDR is the Services' range (test/controlplane's).
	ServiceCIDR = controlplane.ServiceClusterIPRange
	// APIServerPort is the API server's port: the port the kubernetes
	// Service's endpoint carries and config/network-policy admits.
	APIServerPort = 6443
	// BridgeName is the CNI bridge.
	BridgeName = "tgcni0"
	// CNINetworkName names the CNI network (and its host-local IPAM state).
	CNINetworkName = "tierguard-bed"
	// PauseImage is the pod sandbox image, built from ./pause.
	PauseImage = "localhost/tierguard-pause:bed"
	// ProbeImage runs test/dataplane/probe: servers and clients of the
	// measurements.
	ProbeImage = "localhost/tierguard-probe:bed"
	// containerdNamespace is the containerd namespace the CRI uses.
	containerdNamespace = "k8s.io"
	// kubeletPort and kubeProxyHealthPort are the node's listeners, closed to
	// the uplink by the guard.
	kubeletPort         = 10250
	kubeProxyHealthPort = 10256
	// kubeProxyMetricsPort is kube-proxy's metrics listener, on loopback.
	kubeProxyMetricsPort = 10249
)

// Controllers are the kube-controller-manager controllers a Deployment, its
// Service and its PodDisruptionBudget need, besides test/controlplane's
// defaults: root-ca-certificate-publisher publishes kube-root-ca.crt, without
// which no pod with a projected ServiceAccount token starts.
var Controllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
	"disruption-controller",
	// Removes the not-ready taint kubelet registers the node with.
	"node-lifecycle-controller",
	"pod-garbage-collector-controller",
}

// apiServerArgs are added to test/controlplane's API server flags.
func apiServerArgs() []string {
	return []string{
		// The kubernetes Service gets this API server as its endpoint
		// (test/controlplane turns the reconciler off).
		"--endpoint-reconciler-type=lease",
		// 4. The API server dials kubelets by hostname by default, and the
		// node name does not resolve: dial the InternalIP (logs, exec).
		"--kubelet-preferred-address-types=InternalIP",
	}
}

// containerdConfig is containerd 1.6's configuration: its own root, state
// and socket under dir, so the machine's containerd (if any) is untouched.
func containerdConfig(dir, cniBinDir, cniConfDir string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  # The sandbox image is built locally: no registry is reachable.
  sandbox_image = %q
  # 1. This VM drops CAP_SYS_RESOURCE from every process's bounding set, so
  # even root cannot set a negative oom_score_adj; every sandbox asked for
  # -998 and failed ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # 7. The conflist is written in place (see writeCNIConfig); containerd 1.6
  # misses a file renamed into place.
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      # 3. cgroupfs: containerd 1.6 lacks the CRI call kubelet uses to
      # detect the driver, and this machine has no systemd as PID 1.
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state beside containerd's, not in /run/containerd/runc.
        Root = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "containerd.sock"),
		PauseImage, cniBinDir, cniConfDir, filepath.Join(dir, "runc"))
}

// cniConfig is the pod network: one bridge, host-local addresses from
// PodCIDR, no masquerading (pods talk only to each other and this machine),
// no portmap (no host ports, so no CNI-HOSTPORT chains to clean).
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
`, CNINetworkName, BridgeName, ipamDir, PodCIDR)
}

// kubeletConfig is the KubeletConfiguration.
func kubeletConfig(caFile, containerdSock, nodeIP, podLogsDir string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# 2. kubelet v1.37 refuses cgroup v1 unless told; sessions here run inside a
# non-root v1 cgroup, so switching the machine to v2 is not an option.
failCgroupV1: false
# 3. See containerdConfig.
cgroupDriver: cgroupfs
# 1. No negative OOM scores on this VM (kubelet asks -999 for itself).
oomScoreAdj: 0
containerRuntimeEndpoint: unix://%s
address: %s
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
# The bed's images are imported, never pulled: keep them whatever the disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
failSwapOn: false
# 8. No cluster DNS here (CoreDNS is not available); pods reach the API server
# by KUBERNETES_SERVICE_HOST, as client-go's in-cluster configuration does.
# Nor the machine's resolvers: a pod's DNS query would be the only packet
# trying to leave (the guard would drop it).
resolvConf: ""
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusReportFrequency: 1m
serializeImagePulls: false
# Pod logs stay in the bed's work dir, not /var/log/pods.
podLogsDir: %s
`, containerdSock, nodeIP, kubeletPort, caFile, podLogsDir)
}

// kubeProxyConfig is the KubeProxyConfiguration.
func kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
clusterCIDR: %s
# 1. No negative OOM scores on this VM.
oomScoreAdj: 0
# Leave the machine's connection tracking settings alone: 0 means "do not
# change" for each of these.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  # Node ports on 127.0.0.1 need route_localnet=1; the bed has none.
  localhostNodePorts: false
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
`, kubeconfig, NodeName, PodCIDR, kubeProxyHealthPort, kubeProxyMetricsPort)
}

// guardRules are the iptables rules (table, chain, rule) that keep every
// packet on this machine: in mangle POSTROUTING, which sees the final device
// and the address after DNAT, drop what would leave by the uplink from or to
// the pod range or to the service range (filter OUTPUT or blackhole routes
// would break host-to-ClusterIP traffic); in filter INPUT, drop what arrives
// by the uplink for the API server, the kubelet or kube-proxy's health port.
func guardRules(uplink string) [][]string {
	comment := []string{"-m", "comment", "--comment", guardComment}
	ports := strings.Join([]string{fmt.Sprint(APIServerPort), fmt.Sprint(kubeletPort), fmt.Sprint(kubeProxyHealthPort)}, ",")
	rules := [][]string{
		{"mangle", "POSTROUTING", "-o", uplink, "-s", PodCIDR, "-j", "DROP"},
		{"mangle", "POSTROUTING", "-o", uplink, "-d", PodCIDR, "-j", "DROP"},
		{"mangle", "POSTROUTING", "-o", uplink, "-d", ServiceCIDR, "-j", "DROP"},
		{"filter", "INPUT", "-i", uplink, "-p", "tcp", "-m", "multiport", "--dports", ports, "-j", "DROP"},
	}
	for i := range rules {
		rules[i] = append(rules[i][:2:2], append(append([]string{}, rules[i][2:]...), comment...)...)
	}
	return rules
}

// guardComment marks the guard's rules.
const guardComment = "tierguard-bed-guard"
