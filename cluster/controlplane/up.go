package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	goflag "flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	clientcmd "k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
)

// Exit codes of "controlplane up"; the TypeScript harness maps them to messages.
const (
	exitFailure       = 1 // anything else; the message says what
	exitUsage         = 2 // bad flags
	exitPortInUse     = 3 // a requested port is taken
	exitDataDirLocked = 4 // another controlplane uses the data dir
	exitComponentDied = 6 // a component exited after ready; everything was stopped
)

const (
	apiserverReadyTimeout = 120 * time.Second
	apiserverStopTimeout  = 60 * time.Second
	contextName           = "hello-pepr-store-resources-local"
)

// ports are remembered in <data-dir>/ports.json so a restart serves on the same addresses.
type ports struct {
	APIServer  int `json:"apiserver"`
	EtcdPeer   int `json:"etcdPeer"`
	EtcdClient int `json:"etcdClient"`
}

// readyLine is the one machine-readable line "up" prints on stdout once everything serves.
type readyLine struct {
	Ready        bool    `json:"ready"`
	Kubeconfig   string  `json:"kubeconfig"`
	Server       string  `json:"server"`
	Control      string  `json:"control"`
	ControlToken string  `json:"controlToken"` // file (0600) holding the control endpoint's bearer token
	Etcd         string  `json:"etcd"`
	DataDir      string  `json:"dataDir"`
	AuditLog     string  `json:"auditLog"`
	Log          string  `json:"log"`
	PID          int     `json:"pid"`
	StartSeconds float64 `json:"startSeconds"`
	// Node is set when the node runs (--node); NodeSkipped says why not when it was asked for
	// but this machine cannot run containers.
	Node        *nodeInfo `json:"node,omitempty"`
	NodeSkipped string    `json:"nodeSkipped,omitempty"`
}

type upError struct {
	code int
	err  error
}

func (e *upError) Error() string { return e.err.Error() }

var upStart = time.Now()

// progress prints a human-readable step on stderr with the time since start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane [%5.1fs] %s\n", time.Since(upStart).Seconds(), fmt.Sprintf(format, args...))
}

func defaultDataDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "hello-pepr-store-resources", "controlplane-data")
	}
	return filepath.Join(os.TempDir(), "hello-pepr-store-resources-controlplane-data")
}

type upOptions struct {
	dataDir, kubeconfig     string
	port, controlPort       int
	controllers, node       bool
	nodeName, containerdDir string
	images                  []string
}

func runUp(args []string) int {
	fs := goflag.NewFlagSet("controlplane up", goflag.ContinueOnError)
	var o upOptions
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "etcd data, certificates, kubeconfig and logs; kept across restarts")
	fs.IntVar(&o.port, "port", 0, "kube-apiserver secure port (0: the port of the last run if free, else any free port)")
	fs.IntVar(&o.controlPort, "control-port", 0, "port of the HTTP control endpoint on 127.0.0.1 (0: any free port)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig (default <data-dir>/kubeconfig)")
	fs.BoolVar(&o.controllers, "controllers", true, "without --node: run these kube-controller-manager controllers in-process: "+controllers)
	fs.BoolVar(&o.node, "node", false, "also run a node: kube-controller-manager (all default controllers), kube-scheduler, containerd, kubelet, kube-proxy")
	fs.StringVar(&o.nodeName, "node-name", "hpsr-node", "the node's name")
	fs.Func("image", "with --node: an OCI image archive to import into the node before it is ready (repeatable)", func(v string) error {
		o.images = append(o.images, v)
		return nil
	})
	fs.StringVar(&o.containerdDir, "containerd-dir", "", "folder with containerd, containerd-shim-runc-v2, ctr and pause.tar (cluster/containerd/build.sh prints it)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if o.kubeconfig == "" {
		o.kubeconfig = filepath.Join(o.dataDir, "kubeconfig")
	}
	if err := up(o); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		var ue *upError
		if errors.As(err, &ue) {
			return ue.code
		}
		return exitFailure
	}
	return 0
}

// stopper is closed on the first SIGTERM/SIGINT/SIGHUP or when the parent process is gone; a second
// signal exits at once. It watches from the start of "up", before etcd.
type stopper struct {
	done   chan struct{}
	reason string
}

func watchStop() *stopper {
	s := &stopper{done: make(chan struct{})}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// Whoever reads our stderr may be gone (a closed terminal, `| head`, a parent killed): a
	// progress line must then fail quietly, not kill us with SIGPIPE half-way through restoring
	// the machine (Go exits on SIGPIPE from fd 1 or 2 unless SIGPIPE is ignored).
	signal.Ignore(syscall.SIGPIPE)
	gone := parentGone(os.Getppid())
	go func() {
		select {
		case x := <-sig:
			s.reason = x.String() + ": stopping (a second signal exits at once)"
		case <-gone:
			s.reason = "the process that started us is gone: stopping"
		}
		close(s.done)
		<-sig
		os.Exit(exitFailure)
	}()
	return s
}

// check returns an error once a stop was asked for, to end a start half-way.
func (s *stopper) check() error {
	select {
	case <-s.done:
		return errors.New("stopped before ready: " + s.reason)
	default:
		return nil
	}
}

func up(o upOptions) error {
	stop := watchStop()
	dataDir, logPath, unlock, err := openDataDir(o.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	ready := readyLine{Ready: true, Kubeconfig: o.kubeconfig, DataDir: dataDir,
		AuditLog: filepath.Join(dataDir, "audit.log"), Log: logPath, PID: os.Getpid()}
	p := newPKI(dataDir)
	nd, err := nodeIfAsked(o, dataDir, p, &ready)
	if err != nil {
		return err
	}
	defer stopNode(nd)
	if nd != nil {
		nd.startRuntimeEarly(o.images)
	}
	if err := p.ensure(ipList(nd.address())...); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	pt, err := choosePorts(dataDir, o.port)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.controlPort))
	if err != nil {
		return &upError{exitPortInUse, fmt.Errorf("control port %d on 127.0.0.1 is in use: %w", o.controlPort, err)}
	}
	defer lis.Close()
	if err := stop.check(); err != nil {
		return err
	}
	return serve(o, &ready, p, nd, pt, lis, stop)
}

// serve starts etcd, kube-apiserver and the workloads, prints the ready line, and runs until a
// stop is asked for or a component exits; everything it started is stopped when it returns.
func serve(o upOptions, ready *readyLine, p *pki, nd *node, pt ports, lis net.Listener, stop *stopper) error {
	dataDir := ready.DataDir
	step := time.Now()
	etcd, etcdURL, err := startEtcdOnFreePorts(dataDir, p, &pt, o.port)
	if err != nil {
		return err
	}
	defer func() {
		etcd.Close()
		progress("etcd stopped")
	}()
	progress("etcd ready on %s in %.1fs", etcdURL, time.Since(step).Seconds())
	if err := stop.check(); err != nil {
		return err
	}
	failed := make(chan error, 16) // each component reports once at most; the first one read ends up
	api, err := startAPIServer(dataDir, p, etcdURL, pt.APIServer, nd.address(), o.kubeconfig, failed)
	if err != nil {
		return err
	}
	defer api.stop()   //nolint:errcheck // reported inside
	defer stopNode(nd) // the node stops before the API server (a second stop is a no-op)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startWorkloads(ctx, o, nd, api.server, p, stop, ready); err != nil {
		return err
	}
	token, err := writeControlToken(dataDir)
	if err != nil {
		return err
	}
	control := &http.Server{Handler: requireToken(token, api.controlHandler())}
	go control.Serve(lis) //nolint:errcheck // closed on shutdown
	defer control.Close()

	supervise(failed, etcd, nd)
	ready.Server, ready.Etcd = api.server, etcdURL
	ready.Control, ready.ControlToken = "http://"+lis.Addr().String(), filepath.Join(dataDir, controlTokenFile)
	ready.StartSeconds = time.Since(upStart).Seconds()
	line, _ := json.Marshal(ready)
	fmt.Println(string(line))
	progress("ready in %.1fs: export KUBECONFIG=%s", ready.StartSeconds, o.kubeconfig)
	return untilEnd(stop, failed)
}

// startEtcdOnFreePorts starts etcd on pt's ports and, when one of them was taken by another
// process between choosing and binding (ports are picked, then released), on new ones, twice.
func startEtcdOnFreePorts(dataDir string, p *pki, pt *ports, apiPort int) (*embed.Etcd, string, error) {
	for attempt := 1; ; attempt++ {
		etcd, url, err := startEtcd(dataDir, p, pt.EtcdClient, pt.EtcdPeer)
		inUse := err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
		if !inUse || attempt == 3 {
			return etcd, url, err
		}
		progress("%v: choosing other ports", err)
		if *pt, err = choosePorts(dataDir, apiPort); err != nil {
			return nil, "", err
		}
	}
}

// untilEnd waits for a stop request (nil) or a component's exit (exitComponentDied).
func untilEnd(stop *stopper, failed <-chan error) error {
	select {
	case <-stop.done:
		progress("%s", stop.reason)
		return nil
	case err := <-failed:
		progress("%v: stopping everything", err)
		return &upError{exitComponentDied, err}
	}
}

// supervise reports on failed etcd or a node's process ending on its own once everything is
// ready (kube-apiserver reports itself; the fault tests' stops of it are not failures).
func supervise(failed chan<- error, etcd *embed.Etcd, nd *node) {
	go func() {
		select {
		case err := <-etcd.Err():
			failed <- fmt.Errorf("etcd failed: %v", err)
		case <-etcd.Server.StopNotify():
			failed <- errors.New("etcd stopped")
		}
	}()
	if nd != nil {
		for _, c := range nd.children {
			go func() {
				<-c.done
				failed <- c.failure()
			}()
		}
	}
}

// openDataDir creates and locks the data dir and sends the components' logs to a file in it.
func openDataDir(dir string) (dataDir, logPath string, unlock func(), err error) {
	if dataDir, err = filepath.Abs(dir); err != nil {
		return "", "", nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", nil, fmt.Errorf("create data dir: %w", err)
	}
	if unlock, err = lockDataDir(dataDir); err != nil {
		return "", "", nil, err
	}
	logPath = filepath.Join(dataDir, "controlplane.log")
	if err := logToFile(logPath); err != nil {
		unlock()
		return "", "", nil, err
	}
	progress("data dir %s (component logs: %s)", dataDir, logPath)
	return dataDir, logPath, unlock, nil
}

// nodeIfAsked prepares the node with --node, or says in ready.NodeSkipped (and one progress
// line) what this machine lacks to run containers.
func nodeIfAsked(o upOptions, dataDir string, p *pki, ready *readyLine) (*node, error) {
	if !o.node {
		return nil, nil
	}
	if missing := nodeMissing(o.containerdDir); len(missing) > 0 {
		ready.NodeSkipped = "this machine cannot run containers: missing " + strings.Join(missing, ", ")
		progress("node: not started, %s; the control plane runs without it", ready.NodeSkipped)
		return nil, nil
	}
	nd, err := prepareNode(dataDir, o.nodeName, o.containerdDir, p)
	if err != nil {
		return nil, &upError{exitNodeFailed, fmt.Errorf("node: %w", err)}
	}
	return nd, nil
}

func stopNode(nd *node) {
	if err := nd.stop(); err != nil {
		progress("node: %v", err)
	}
}

// startAPIServer starts kube-apiserver and writes the admin and controllers kubeconfigs.
func startAPIServer(dataDir string, p *pki, etcdURL string, port int, nodeIP, kubeconfig string, failed chan<- error) (*apiserver, error) {
	apiArgs, err := apiserverArgs(dataDir, p, etcdURL, port, nodeIP)
	if err != nil {
		return nil, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	api := &apiserver{args: apiArgs, server: server, port: port, nodeIP: nodeIP, pki: p, failed: failed}
	if err := api.start(); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(kubeconfig, server, p.caCert, p.adminCert, p.adminKey); err != nil {
		api.stop() //nolint:errcheck // reported inside
		return nil, err
	}
	if err := writeKubeconfig(controllersKubeconfig(dataDir), server, p.caCert, p.controllersCert, p.controllersKey); err != nil {
		api.stop() //nolint:errcheck // reported inside
		return nil, err
	}
	return api, nil
}

func controllersKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "controllers.kubeconfig")
}

// startWorkloads starts the node's components, or without a node the in-process controllers
// (until ctx is done).
func startWorkloads(ctx context.Context, o upOptions, nd *node, server string, p *pki, stop *stopper, ready *readyLine) error {
	if nd != nil {
		info, err := startNodeComponents(nd, server, o.kubeconfig, stop)
		if err != nil {
			return &upError{exitNodeFailed, fmt.Errorf("node: %w", err)}
		}
		ready.Node = info
		return nil
	}
	if !o.controllers {
		return nil
	}
	go func() {
		if err := runControllers(ctx, controllerArgs(controllersKubeconfig(filepath.Dir(p.dir)), p)); err != nil && ctx.Err() == nil {
			progress("controllers stopped: %v", err)
		}
	}()
	progress("controllers started: %s", controllers)
	return nil
}

// startNodeComponents starts the node's processes in order, each waited for: controllers and
// scheduler, containerd, the kubelet (until the Node is Ready), kube-proxy.
func startNodeComponents(nd *node, server, kubeconfig string, stop *stopper) (*nodeInfo, error) {
	steps := []func() error{
		func() error { return nd.startControllers(server) },
		nd.runtimeReady,
		func() error { return nd.startKubelet(server, kubeconfig) },
		func() error { return nd.startProxy(server) },
		nd.imagesImported,
	}
	for _, s := range steps {
		if err := stop.check(); err != nil {
			return nil, err
		}
		if err := s(); err != nil {
			return nil, err
		}
	}
	return &nodeInfo{
		Name: nd.name, IP: nd.ip, Containerd: nd.paths.socket, Ctr: nd.ctr(), Namespace: "k8s.io",
		ImportImage: nd.ctr() + " --address " + nd.paths.socket + " -n k8s.io images import",
		Logs:        nd.paths.logs, ReadySeconds: time.Since(upStart).Seconds(),
	}, nil
}

func ipList(ip string) []net.IP {
	if ip == "" {
		return nil
	}
	return []net.IP{net.ParseIP(ip)}
}

const controlTokenFile = "control-token"

// writeControlToken writes a new random bearer token for the control endpoint, readable only
// by the owner: any local user can reach 127.0.0.1, only the owner can read the data dir.
func writeControlToken(dataDir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	path := filepath.Join(dataDir, controlTokenFile)
	_ = os.Remove(path)
	return token, os.WriteFile(path, []byte(token), 0o600)
}

// requireToken answers 401 unless the request carries "Authorization: Bearer <token>".
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, `{"error":"missing or wrong bearer token (see controlToken in the ready line)"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// parentGone is closed when the parent process exits (we are re-parented), so a test run that
// dies without stopping us does not leave a control plane behind.
func parentGone(ppid int) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		for os.Getppid() == ppid {
			time.Sleep(time.Second)
		}
		close(gone)
	}()
	return gone
}

// apiserver runs kube-apiserver in this process and can stop and start it again while etcd
// keeps running (the fault tests use that through the control endpoint).
type apiserver struct {
	args   []string
	server string
	port   int
	nodeIP string // also served on, with a node
	pki    *pki
	failed chan<- error // told when it exits after ready without being stopped

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func (a *apiserver) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		return nil
	}
	step := time.Now()
	if err := portFree(a.server); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	served := make(chan struct{})
	go func() {
		err := runAPIServer(ctx, a.args, a.port, a.nodeIP)
		select {
		case <-served:
			if ctx.Err() == nil && a.failed != nil {
				a.failed <- fmt.Errorf("kube-apiserver exited (%v); its log: %s", err, filepath.Join(filepath.Dir(a.pki.dir), "controlplane.log"))
			}
		default:
		}
		done <- err
	}()
	if err := waitReady(a.server, a.pki, done); err != nil {
		cancel()
		return err
	}
	close(served)
	a.cancel, a.done = cancel, done
	progress("kube-apiserver ready on %s in %.1fs", a.server, time.Since(step).Seconds())
	return nil
}

func (a *apiserver) stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return nil
	}
	step := time.Now()
	a.cancel()
	defer func() { a.cancel, a.done = nil, nil }()
	select {
	case err := <-a.done:
		if err != nil {
			progress("kube-apiserver stopped with: %v", err)
		}
		progress("kube-apiserver stopped in %.1fs", time.Since(step).Seconds())
		return nil
	case <-time.After(apiserverStopTimeout):
		return fmt.Errorf("timeout waiting for kube-apiserver to stop after %s", apiserverStopTimeout)
	}
}

func (a *apiserver) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done != nil
}

// controlHandler serves POST /apiserver/stop, POST /apiserver/start and GET /status.
func (a *apiserver) controlHandler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, err error, started time.Time) {
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"apiserver": map[bool]string{true: "running", false: "stopped"}[a.running()],
			"seconds": time.Since(started).Seconds()}
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			body["error"] = err.Error()
		}
		json.NewEncoder(w).Encode(body) //nolint:errcheck
	}
	mux.HandleFunc("POST /apiserver/stop", func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		reply(w, a.stop(), t)
	})
	mux.HandleFunc("POST /apiserver/start", func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		reply(w, a.start(), t)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { reply(w, nil, time.Now()) })
	return mux
}

// waitReady polls /readyz with the admin certificate until it answers 200.
func waitReady(server string, p *pki, done <-chan error) error {
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(p.adminCert, p.adminKey)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	deadline := time.After(apiserverReadyTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		select {
		case err := <-done:
			return fmt.Errorf("kube-apiserver exited before ready: %v", err)
		case <-deadline:
			return fmt.Errorf("timeout waiting for kube-apiserver %s/readyz after %s (last: %s)", server, apiserverReadyTimeout, last)
		case <-tick.C:
			resp, err := client.Get(server + "/readyz")
			if err != nil {
				last = err.Error()
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
	}
}

func portFree(server string) error {
	host := server[len("https://"):]
	l, err := net.Listen("tcp", host)
	if err != nil {
		return &upError{exitPortInUse, fmt.Errorf("kube-apiserver port %s is in use; stop what uses it or pass --port: %w", host, err)}
	}
	return l.Close()
}

// choosePorts keeps the ports of the previous run when they are free (so kubeconfigs stay
// valid); a port given with --port must be free. Every port is held while the others are picked,
// so no two of them are the same (a port picked and closed can be handed out again at once).
func choosePorts(dataDir string, wantPort int) (ports, error) {
	path := filepath.Join(dataDir, "ports.json")
	var pt ports
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &pt)
	}
	if wantPort != 0 {
		if err := portFree(fmt.Sprintf("https://127.0.0.1:%d", wantPort)); err != nil {
			return pt, err
		}
		pt.APIServer = wantPort
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, p := range []*int{&pt.APIServer, &pt.EtcdClient, &pt.EtcdPeer} {
		l, err := listenKept(*p)
		if err != nil {
			return pt, err
		}
		held = append(held, l)
		*p = l.Addr().(*net.TCPAddr).Port
	}
	data, _ := json.Marshal(pt)
	return pt, os.WriteFile(path, data, 0o600)
}

// listenKept listens on 127.0.0.1:port when port is set and free there, else on a free port.
func listenKept(port int) (net.Listener, error) {
	if port != 0 {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func lockDataDir(dataDir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(filepath.Join(dataDir, "pid"))
		f.Close()
		return nil, &upError{exitDataDirLocked, fmt.Errorf("data dir %s is in use by another controlplane (pid %s)", dataDir, string(pid))}
	}
	_ = os.WriteFile(filepath.Join(dataDir, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o600)
	return func() { f.Close() }, nil
}

// logToFile sends klog (kube-apiserver, controllers) to path, keeping the console for progress.
func logToFile(path string) error {
	// klog would create it 0644; the components' log names the data dir's files and tokens' users
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	fs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false",
		"stderrthreshold": "FATAL", "log_file": path, "one_output": "true"} {
		if err := fs.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(path, server, caFile, certFile, keyFile string) error {
	files := map[string][]byte{}
	for _, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", path, err)
		}
		files[f] = b
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: files[caFile]}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: files[certFile], ClientKeyData: files[keyFile]}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
