package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the PKI directory (WorkDir/pki).
const (
	caCertFile         = "ca.crt"
	caKeyFile          = "ca.key"
	servingCertFile    = "apiserver.crt"
	servingKeyFile     = "apiserver.key"
	saPrivateKeyFile   = "sa.key"
	saPublicKeyFile    = "sa.pub"
	caValidity         = 10 * 365 * 24 * time.Hour
	leafValidity       = 365 * 24 * time.Hour
	clockSkewAllowance = time.Hour
)

// pki holds the certificate authority and the service account key pair of a
// control plane, and issues the certificates signed by that authority.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte
	saKey  crypto.Signer
}

// loadOrCreatePKI reuses the CA and the service account key found in dir (so
// a kept work dir keeps its tokens and kubeconfigs valid) or creates new ones,
// then writes a fresh API server serving certificate.
func loadOrCreatePKI(dir string, servingIPs ...net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	p := &pki{dir: dir}
	if err := p.load(); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load pki from %s: %w", dir, err)
		}
		if err := p.create(); err != nil {
			return nil, fmt.Errorf("create pki in %s: %w", dir, err)
		}
	}
	certPEM, keyPEM, err := p.issue(pkix.Name{CommonName: "kube-apiserver"},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)}, servingIPs...))
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	if err := writeFile(p.path(servingCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(p.path(servingKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// path returns the path of a file of the PKI directory.
func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// load reads the CA and the service account key from the PKI directory; the
// error wraps os.ErrNotExist when any of them is absent.
func (p *pki) load() error {
	caPEM, err := os.ReadFile(p.path(caCertFile))
	if err != nil {
		return err
	}
	caKey, err := readPrivateKey(p.path(caKeyFile))
	if err != nil {
		return err
	}
	saKey, err := readPrivateKey(p.path(saPrivateKeyFile))
	if err != nil {
		return err
	}
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("%s: no PEM certificate", p.path(caCertFile))
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse %s: %w", p.path(caCertFile), err)
	}
	if time.Now().Add(leafValidity).After(caCert.NotAfter) {
		return fmt.Errorf("%s expires soon: %w", p.path(caCertFile), os.ErrNotExist)
	}
	p.caCert, p.caKey, p.caPEM, p.saKey = caCert, caKey, caPEM, saKey
	if _, err := os.Stat(p.path(saPublicKeyFile)); err != nil {
		return p.writeSAPublicKey()
	}
	return nil
}

// create makes a new CA and service account key pair and writes them.
func (p *pki) create() error {
	caKey, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "tierguard-controlplane-ca"},
		NotBefore:             now.Add(-clockSkewAllowance),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("self-sign CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parse CA: %w", err)
	}
	saKey, err := newKey()
	if err != nil {
		return err
	}
	p.caCert, p.caKey, p.saKey = caCert, caKey, saKey
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return err
	}
	saKeyPEM, err := encodeKey(saKey)
	if err != nil {
		return err
	}
	if err := writeFile(p.path(caCertFile), p.caPEM, 0o644); err != nil {
		return err
	}
	if err := writeFile(p.path(caKeyFile), caKeyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(p.path(saPrivateKeyFile), saKeyPEM, 0o600); err != nil {
		return err
	}
	return p.writeSAPublicKey()
}

// writeSAPublicKey writes the public half of the service account key, which
// the API server uses to verify tokens.
func (p *pki) writeSAPublicKey() error {
	der, err := x509.MarshalPKIXPublicKey(p.saKey.Public())
	if err != nil {
		return fmt.Errorf("marshal service account public key: %w", err)
	}
	return writeFile(p.path(saPublicKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

// clientCert issues a client certificate for user in groups (the
// certificate's organizations), which the API server maps to that identity.
func (p *pki) clientCert(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	return p.issue(pkix.Name{CommonName: user, Organization: groups},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
}

// issue creates a key and a certificate signed by the CA.
func (p *pki) issue(subject pkix.Name, usages []x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      subject,
		NotBefore:    now.Add(-clockSkewAllowance),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", subject.CommonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// newKey generates an ECDSA P-256 key, which every component accepts and
// which is much faster to generate than RSA.
func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// encodeKey encodes a private key as PKCS#8 PEM.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// readPrivateKey reads a PKCS#8 PEM private key.
func readPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PKCS#8 PEM private key", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", path, key)
	}
	return signer, nil
}

// randomSerial returns a random 127-bit certificate serial number.
func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a time-based serial is still unique enough here.
		return big.NewInt(time.Now().UnixNano())
	}
	return serial
}

// writeFile writes data to path with perm, replacing the file atomically.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
