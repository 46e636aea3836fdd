// Command node-image is the program of the e2e tests' container image (test/e2e/in-cluster/node.test.ts):
// an HTTPS server on :3000, like Pepr's watcher, with the key pair of a Secret volume in
// /etc/certs (without one, a self-signed pair made at start). GET /healthz answers 200; GET /kube/<path> GETs /<path> from the API server
// through the kubernetes Service (KUBERNETES_SERVICE_HOST/PORT) with the pod's ServiceAccount
// token and CA, logs "kube GET /<path> -> <status>" and answers {"status":...,"server":...}.
// GET /hostname answers the pod's name; GET /service/<host:port>/<path> GETs that URL (a
// Service's ClusterIP) and answers {"status":...,"body":...}.
// `server whoami` prints its uid and gid and exits (what the tests run with `kubectl exec`).
// Only the standard library: it is built with CGO_ENABLED=0 into a one-file image.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 && os.Args[1] == "whoami" { // for `kubectl exec`: the image has no shell
		fmt.Printf("uid %d gid %d\n", os.Getuid(), os.Getgid())
		return
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/kube/", kube)
	http.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		name, _ := os.Hostname() // the pod's name
		fmt.Fprintln(w, name)
	})
	http.HandleFunc("/service/", service)
	log.Printf("serving https on :3000 as uid %d gid %d", os.Getuid(), os.Getgid())
	pair, err := tls.LoadX509KeyPair("/etc/certs/tls.crt", "/etc/certs/tls.key")
	if err != nil {
		log.Printf("no key pair in /etc/certs (%v): using a self-signed one", err)
		if pair, err = selfSigned(); err != nil {
			log.Fatal(err)
		}
	}
	server := &http.Server{Addr: ":3000", TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	log.Fatal(server.ListenAndServeTLS("", ""))
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-image"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func kube(w http.ResponseWriter, r *http.Request) {
	path := "/" + strings.TrimPrefix(r.URL.Path, "/kube/")
	server := "https://" + net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	status, err := get(server, path)
	if err != nil {
		log.Printf("kube GET %s -> error %v", path, err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	log.Printf("kube GET %s -> %d", path, status)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": status, "server": server}) //nolint:errcheck
}

// service GETs https://<host:port>/<path> (a Service's ClusterIP, which leads to a pod of the
// same kind, whose certificate is self-signed: not verified), logs "service GET <url> -> <status>"
// and answers {"status":...,"body":...}.
func service(w http.ResponseWriter, r *http.Request) {
	url := "https://" + strings.TrimPrefix(r.URL.Path, "/service/")
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(url)
	if err != nil {
		log.Printf("service GET %s -> error %v", url, err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	log.Printf("service GET %s -> %d", url, resp.StatusCode)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": resp.StatusCode, "body": string(body)}) //nolint:errcheck
}

// get requests path with the ServiceAccount token, verifying the API server against the
// mounted CA, and returns the HTTP status.
func get(server, path string) (int, error) {
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return 0, err
	}
	caPEM, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return 0, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return 0, fmt.Errorf("no certificate in %s/ca.crt", saDir)
	}
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodGet, server+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
