package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// auditPolicy records every request but lease renewals and health probes, once per request
// (at ResponseComplete; watches also at ResponseStarted): writes to peprstores with their body
// (the JSON patch Pepr sent), everything else at Metadata level. The tests and the benchmark
// count PeprStore PATCHes and the watcher's GET/LIST/WATCH calls from it.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
  - level: Request
    verbs: ["create", "update", "patch", "delete"]
    resources:
      - group: pepr.dev
        resources: ["peprstores"]
  - level: Metadata
`

// apiserverArgs are the kube-apiserver flags for a local control plane. Without a node
// (nodeIP empty) it serves on 127.0.0.1 only, with RBAC and no endpoints for the kubernetes
// Service. With a node it also serves on nodeIP, the bridge's address that pods reach and other
// machines do not (see apiserverListener), advertises it, keeps the kubernetes Service's endpoints itself, authorizes kubelets with the Node
// authorizer and NodeRestriction, and reaches kubelets (logs, exec) with a client certificate.
func apiserverArgs(dataDir string, p *pki, etcdURL string, port int, nodeIP string) ([]string, error) {
	etcdClientCert, etcdClientKey := p.certPair(etcdClientName)
	policy := filepath.Join(dataDir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	authn := filepath.Join(dataDir, "authentication-config.yaml")
	if err := os.WriteFile(authn, []byte(healthOnlyAnonymous), 0o600); err != nil {
		return nil, err
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--etcd-cafile=" + p.caCert,
		"--etcd-certfile=" + etcdClientCert,
		"--etcd-keyfile=" + etcdClientKey,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dataDir, "pki"),
		"--tls-cert-file=" + p.servingCert,
		"--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--authentication-config=" + authn,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-signing-key-file=" + p.saKey,
		"--service-account-key-file=" + p.saPub,
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + filepath.Join(dataDir, "audit.log"),
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		// Close watches when stopping: otherwise open watches (the controllers', the Pepr
		// watcher's) hold the HTTP server's shutdown for --request-timeout (60 s).
		"--shutdown-watch-termination-grace-period=2s",
	}
	if nodeIP == "" {
		return args, nil
	}
	return withNodeArgs(args, p, nodeIP)
}

// withNodeArgs replaces and adds the flags a node needs: its address advertised, the lease
// endpoint reconciler, the Node authorizer and NodeRestriction, the kubelet client certificate.
func withNodeArgs(args []string, p *pki, nodeIP string) ([]string, error) {
	cert, key := p.certPair("apiserver-kubelet-client")
	if err := p.ensureClient(cert, key, "kube-apiserver-kubelet-client", "system:masters"); err != nil {
		return nil, err
	}
	node := []string{
		"--advertise-address=" + nodeIP,
		"--endpoint-reconciler-type=lease",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate=" + cert,
		"--kubelet-client-key=" + key,
		"--kubelet-certificate-authority=" + p.caCert,
		"--kubelet-preferred-address-types=InternalIP",
	}
	// replace, not repeat: a repeated slice flag (--authorization-mode) would append
	flagName := func(arg string) string { name, _, _ := strings.Cut(arg, "="); return name }
	args = slices.DeleteFunc(args, func(a string) bool {
		return slices.ContainsFunc(node, func(n string) bool { return flagName(n) == flagName(a) })
	})
	return append(args, node...), nil
}

// healthOnlyAnonymous lets requests without credentials reach the health endpoints only, as
// kubeadm's and k3s's probes need them; anything else without credentials is 401, where the
// default (--anonymous-auth=true) would let RBAC decide (and /version answered anyone).
const healthOnlyAnonymous = `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
`

// runAPIServer runs kube-apiserver in this process until ctx is done, as
// app.NewAPIServerCommand does but with our context (that command installs its own signal
// handler and ignores the caller's). It can be called again after it returns.
func runAPIServer(ctx context.Context, args []string, port int, nodeIP string) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	if nodeIP != "" {
		lis, err := apiserverListener(port, nodeIP)
		if err != nil {
			return err
		}
		s.SecureServing.Listener = lis // the server closes it when it stops
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	return app.Run(ctx, completed)
}

// apiserverListener listens on 127.0.0.1:port and nodeIP:port: --bind-address takes one
// address, and 0.0.0.0 would also serve every other machine on the network.
func apiserverListener(port int, nodeIP string) (net.Listener, error) {
	loopback, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	bridge, err := net.Listen("tcp", net.JoinHostPort(nodeIP, strconv.Itoa(port)))
	if err != nil {
		loopback.Close()
		return nil, err
	}
	return newMergedListener(loopback, bridge), nil
}

// mergedListener accepts on several listeners as one (written here: the standard library and
// apimachinery have none). Addr is the first one's.
type mergedListener struct {
	all   []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMergedListener(all ...net.Listener) *mergedListener {
	m := &mergedListener{all: all, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, l := range all {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return // closed
				}
				select {
				case m.conns <- c:
				case <-m.done:
					c.Close()
					return
				}
			}
		}()
	}
	return m
}

func (m *mergedListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *mergedListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.all {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

func (m *mergedListener) Addr() net.Addr { return m.all[0].Addr() }
