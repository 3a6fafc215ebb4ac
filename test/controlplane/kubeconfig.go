package controlplane

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextName is the name of the cluster, user and context of every
// kubeconfig the control plane writes.
const contextName = "tierguard-controlplane"

// credentials authenticate a client: a client certificate or a bearer token.
type credentials struct {
	certPEM, keyPEM []byte
	token           string
}

// restConfig returns a client configuration for host, trusting caPEM and
// authenticating with creds.
func restConfig(host string, caPEM []byte, creds credentials) *rest.Config {
	return &rest.Config{
		Host: host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   caPEM,
			CertData: creds.certPEM,
			KeyData:  creds.keyPEM,
		},
		BearerToken: creds.token,
		QPS:         50,
		Burst:       100,
	}
}

// writeKubeconfig writes a kubeconfig with the credentials embedded, so the
// file stays valid when it is copied elsewhere.
func writeKubeconfig(path, host string, caPEM []byte, creds credentials) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{
		ClientCertificateData: creds.certPEM,
		ClientKeyData:         creds.keyPEM,
		Token:                 creds.token,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return writeFile(path, data, 0o600)
}
