package main

import (
	"crypto/rand"
	"crypto/rsa"
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

// pki holds the paths of the certificates and keys of one control plane. They are made once
// per data dir and reused on restart, so a kubeconfig written earlier stays valid.
type pki struct {
	dir                             string
	caCert, caKey                   string
	servingCert, servingKey         string
	adminCert, adminKey             string
	controllersCert, controllersKey string
	saKey, saPub                    string
}

const certValidity = 10 * 365 * 24 * time.Hour

func newPKI(dataDir string) *pki {
	d := filepath.Join(dataDir, "pki")
	return &pki{
		dir:             d,
		caCert:          filepath.Join(d, "ca.crt"),
		caKey:           filepath.Join(d, "ca.key"),
		servingCert:     filepath.Join(d, "apiserver.crt"),
		servingKey:      filepath.Join(d, "apiserver.key"),
		adminCert:       filepath.Join(d, "admin.crt"),
		adminKey:        filepath.Join(d, "admin.key"),
		controllersCert: filepath.Join(d, "controllers.crt"),
		controllersKey:  filepath.Join(d, "controllers.key"),
		saKey:           filepath.Join(d, "sa.key"),
		saPub:           filepath.Join(d, "sa.pub"),
	}
}

// ensure creates whatever is missing: a CA, the API server's serving cert (127.0.0.1,
// localhost and the in-cluster names), client certs in system:masters for the admin and the
// controllers, and the service-account signing key pair.
func (p *pki) ensure() error {
	if _, err := os.Stat(p.saPub); err == nil {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "hello-pepr-store-resources-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePEM(p.caCert, "CERTIFICATE", caDER); err != nil {
		return err
	}
	if err := writeKey(p.caKey, caKey); err != nil {
		return err
	}
	leaf := func(certPath, keyPath string, tmpl *x509.Certificate) error {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(certValidity)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writeKey(keyPath, key)
	}
	if err := leaf(p.servingCert, p.servingKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}); err != nil {
		return err
	}
	if err := leaf(p.adminCert, p.adminKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	if err := leaf(p.controllersCert, p.controllersKey, &x509.Certificate{
		Subject: pkix.Name{CommonName: "system:kube-controller-manager",
			Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writeKey(p.saKey, saKey); err != nil {
		return err
	}
	// sa.pub is written last: its presence marks the PKI as complete.
	return writePEM(p.saPub, "PUBLIC KEY", pub)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func writeKey(path string, key *rsa.PrivateKey) error {
	return writePEM(path, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

func writePEM(path, typ string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if data == nil {
		return errors.New("pem encoding failed")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
