package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// ServiceAccountTokenLifetime is the lifetime ServiceAccountConfig asks for
// its tokens, long enough for a benchmark or a demo session.
const ServiceAccountTokenLifetime int64 = 24 * 60 * 60

// UserConfig mints a client certificate, signed by the plane's CA, for user
// name in groups, and returns a client configuration and a kubeconfig file
// authenticating as that user. RBAC applies to it as to any user (unless a
// group is MastersGroup), so tests can act as, say, a namespace admin or a
// member of a break-glass group.
func (c *ControlPlane) UserConfig(name string, groups []string) (*rest.Config, string, error) {
	if name == "" {
		return nil, "", fmt.Errorf("user config: empty user name")
	}
	certPEM, keyPEM, err := c.pki.clientCert(name, groups)
	if err != nil {
		return nil, "", fmt.Errorf("user config for %q: %w", name, err)
	}
	creds := credentials{certPEM: certPEM, keyPEM: keyPEM}
	path := filepath.Join(c.WorkDir, kubeconfigsDir, "user-"+fileSafe(name)+".kubeconfig")
	if err := writeKubeconfig(path, c.APIServerURL, c.pki.caPEM, creds); err != nil {
		return nil, "", fmt.Errorf("user config for %q: %w", name, err)
	}
	return restConfig(c.APIServerURL, c.pki.caPEM, creds), path, nil
}

// ServiceAccountConfig creates the ServiceAccount namespace/name when missing
// (the namespace must exist), requests a token for it through the
// TokenRequest API, and returns a client configuration and a kubeconfig file
// authenticating as system:serviceaccount:namespace:name, so code can run
// under the least-privilege identity its RBAC grants. The token lasts
// ServiceAccountTokenLifetime and dies with the ServiceAccount.
func (c *ControlPlane) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, string, error) {
	accounts := c.client.CoreV1().ServiceAccounts(namespace)
	_, err := accounts.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		_, err = accounts.Create(ctx, sa, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("service account %s/%s: %w", namespace, name, err)
	}
	request := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(ServiceAccountTokenLifetime)},
	}
	token, err := accounts.CreateToken(ctx, name, request, metav1.CreateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("request token for service account %s/%s: %w", namespace, name, err)
	}
	creds := credentials{token: token.Status.Token}
	path := filepath.Join(c.WorkDir, kubeconfigsDir, "serviceaccount-"+fileSafe(namespace)+"-"+fileSafe(name)+".kubeconfig")
	if err := writeKubeconfig(path, c.APIServerURL, c.pki.caPEM, creds); err != nil {
		return nil, "", fmt.Errorf("service account %s/%s: %w", namespace, name, err)
	}
	return restConfig(c.APIServerURL, c.pki.caPEM, creds), path, nil
}

// fileSafe maps a user or object name to a file name component.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		default:
			return '_'
		}
	}, s)
}
