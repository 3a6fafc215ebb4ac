package controlplane

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultControllers are the kube-controller-manager controllers the plane
// runs by default, by their canonical names in Kubernetes 1.37 (the older
// names namespace, garbagecollector, serviceaccount and serviceaccount-token
// are accepted aliases): namespace deletion, garbage collection, the default
// ServiceAccount of each namespace, and the token Secrets of service accounts.
var DefaultControllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
}

// controllerManagerArgs returns the flags of a kube-controller-manager that
// serves nothing (--secure-port=0), runs without leader election and uses
// its own client certificate for every controller.
func controllerManagerArgs(p *pki, kubeconfig string, controllers, extra []string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + p.path(saPrivateKeyFile),
		"--root-ca-file=" + p.path(caCertFile),
	}
	return append(args, extra...)
}

// runsServiceAccountController reports whether controllers include the
// controller that creates each namespace's default ServiceAccount.
func runsServiceAccountController(controllers []string) bool {
	return slices.Contains(controllers, "*") ||
		slices.Contains(controllers, "serviceaccount-controller") ||
		slices.Contains(controllers, "serviceaccount")
}

// controllerManagerWorking checks that the serviceaccount controller has
// created the default ServiceAccount of the default namespace, which proves
// that kube-controller-manager runs controllers against this API server.
func controllerManagerWorking(ctx context.Context, client kubernetes.Interface) error {
	if _, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("default ServiceAccount: %w", err)
	}
	return nil
}
