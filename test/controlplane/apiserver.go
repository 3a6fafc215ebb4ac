package controlplane

import (
	"context"
	"fmt"
	"net"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceClusterIPRange is the service IP range the API server allocates from.
const ServiceClusterIPRange = "10.96.0.0/12"

// apiServerArgs returns the flags of a kube-apiserver serving only on
// 127.0.0.1:port with certificates from pki, authorizing with Node and RBAC.
func apiServerArgs(p *pki, host string, port int, etcdURL string, extra []string) []string {
	url := "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	args := []string{
		"--bind-address=" + host,
		"--advertise-address=" + host,
		fmt.Sprintf("--secure-port=%d", port),
		// Endpoints may not hold loopback addresses, so the reconciler of the
		// "kubernetes" service's endpoints would only log errors.
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + etcdURL,
		"--tls-cert-file=" + p.path(servingCertFile),
		"--tls-private-key-file=" + p.path(servingKeyFile),
		"--client-ca-file=" + p.path(caCertFile),
		"--service-account-key-file=" + p.path(saPublicKeyFile),
		"--service-account-signing-key-file=" + p.path(saPrivateKeyFile),
		"--service-account-issuer=" + url,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--allow-privileged=true",
		// Without it, a SIGTERM waits up to --request-timeout (60s) for the
		// HTTP/2 connections of watching clients such as
		// kube-controller-manager; with it, graceful shutdown takes about 2s.
		"--shutdown-send-retry-after=true",
	}
	return append(args, extra...)
}

// apiServerReady checks /readyz and that the namespaces the API server
// creates at start (default and kube-system) exist.
func apiServerReady(ctx context.Context, client kubernetes.Interface) error {
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, body)
	}
	for _, ns := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem} {
		if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	return nil
}
