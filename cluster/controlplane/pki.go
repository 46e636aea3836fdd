package main

import (
	"crypto"
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
	"slices"
	"time"
)

// pki holds the paths of the certificates and keys of one control plane. They are made once
// per data dir and reused on restart, so a kubeconfig written earlier stays valid; a
// certificate that is missing (an older data dir) or whose addresses changed is made again.
type pki struct {
	dir                             string
	caCert, caKey                   string
	servingCert, servingKey         string
	adminCert, adminKey             string
	controllersCert, controllersKey string
	saKey, saPub                    string
}

// The CA lives 10 years, its leaf certificates one, as kubeadm's do.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

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

// certPair names a leaf certificate and key in the pki dir: <name>.crt and <name>.key.
func (p *pki) certPair(name string) (cert, key string) {
	return filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
}

// ensure creates whatever is missing: a CA, the API server's serving cert (127.0.0.1,
// localhost, the in-cluster names and extraIPs, e.g. the node's address), client certs in
// system:masters for the admin and the controllers, and the service-account signing key pair.
func (p *pki) ensure(extraIPs ...net.IP) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	if err := p.ensureCA(); err != nil {
		return err
	}
	ips := append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}, extraIPs...)
	if err := p.ensureLeaf(p.servingCert, p.servingKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: ips,
	}); err != nil {
		return err
	}
	if err := p.ensureClient(p.adminCert, p.adminKey, "admin", "system:masters"); err != nil {
		return err
	}
	if err := p.ensureEtcd(); err != nil {
		return err
	}
	if err := p.ensureClient(p.controllersCert, p.controllersKey, "system:kube-controller-manager",
		"system:masters"); err != nil {
		return err
	}
	if _, err := os.Stat(p.saPub); err == nil {
		return nil
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
	return writePEM(p.saPub, "PUBLIC KEY", pub)
}

// The etcd server's certificate (also its peer and client certificate) and kube-apiserver's
// client certificate for etcd, in the pki dir.
const (
	etcdServerName = "etcd-server"
	etcdClientName = "apiserver-etcd-client"
)

// ensureEtcd makes etcd's serving certificate (127.0.0.1) and kube-apiserver's client one.
func (p *pki) ensureEtcd() error {
	cert, key := p.certPair(etcdServerName)
	if err := p.ensureLeaf(cert, key, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "etcd"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}); err != nil {
		return err
	}
	cert, key = p.certPair(etcdClientName)
	return p.ensureClient(cert, key, "kube-apiserver-etcd-client", "")
}

// ensureClient makes a client certificate for user cn in group org (org may be empty).
func (p *pki) ensureClient(certPath, keyPath, cn, org string) error {
	subject := pkix.Name{CommonName: cn}
	if org != "" {
		subject.Organization = []string{org}
	}
	return p.ensureLeaf(certPath, keyPath, &x509.Certificate{
		Subject: subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func (p *pki) ensureCA() error {
	if _, err := os.Stat(p.caKey); err == nil {
		return nil
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "hello-pepr-store-resources-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writePEM(p.caCert, "CERTIFICATE", caDER); err != nil {
		return err
	}
	return writeKey(p.caKey, caKey)
}

// ensureLeaf signs tmpl with the CA unless certPath already holds a certificate with the same
// subject, IP addresses and DNS names.
func (p *pki) ensureLeaf(certPath, keyPath string, tmpl *x509.Certificate) error {
	if old, err := readCert(certPath); err == nil && old.Subject.String() == tmpl.Subject.String() &&
		slices.EqualFunc(old.IPAddresses, tmpl.IPAddresses, net.IP.Equal) &&
		slices.Equal(old.DNSNames, tmpl.DNSNames) {
		if _, err := os.Stat(keyPath); err == nil {
			return nil
		}
	}
	ca, err := readCert(p.caCert)
	if err != nil {
		return err
	}
	caKey, err := readKey(p.caKey)
	if err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(leafValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der)
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func readKey(path string) (crypto.Signer, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	return x509.ParsePKCS1PrivateKey(der)
}

// readPEM returns the DER bytes of the first PEM block in the file at path.
func readPEM(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return block.Bytes, nil
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

// ensureServing makes a serving certificate for a host name and IP (the kubelet's).
func (p *pki) ensureServing(certPath, keyPath, name, ip string) error {
	return p.ensureLeaf(certPath, keyPath, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{name},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	})
}
