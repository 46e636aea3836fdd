package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	remote "k8s.io/cri-client/pkg"

	"github.com/vishvananda/netlink"
)

const (
	componentReadyTimeout = 120 * time.Second
	componentStopGrace    = 20 * time.Second
	// nodeLockPath makes the node one per machine: kubepods cgroups, the bridge and the
	// KUBE-* chains are machine-wide.
	nodeLockPath   = "/run/hello-pepr-store-resources-node.lock"
	nodeLockWait   = 10 * time.Minute // another run's e2e tests may hold the node for minutes
	exitNodeFailed = 5                // the node could not start on a machine that can run it
)

// nodeInfo is the "node" part of the ready line.
type nodeInfo struct {
	Name         string  `json:"name"`
	IP           string  `json:"ip"`
	Containerd   string  `json:"containerd"`   // containerd's socket
	Ctr          string  `json:"ctr"`          // ctr from the same build
	Namespace    string  `json:"namespace"`    // containerd namespace of the CRI: images go there
	ImportImage  string  `json:"importImage"`  // "ctr --address SOCKET -n k8s.io images import" as one line
	Logs         string  `json:"logs"`         // folder of the components' logs
	ReadySeconds float64 `json:"readySeconds"` // from start of "up" to node Ready
}

// node runs containerd, the kubelet, kube-proxy, kube-scheduler and kube-controller-manager as
// child processes of "up", and puts the machine back when it stops.
type node struct {
	name, ip, dataDir, self, containerdDir string
	paths                                  nodePaths
	pki                                    *pki
	host                                   *hostState
	unlock                                 func()
	children                               []*child // in start order
	spawn                                  chan func()
	runtime, images                        pending // containerd's start and the imports, begun before etcd
	stopOnce                               sync.Once
	stopErr                                error
}

// address is the node's IP, or "" without a node.
func (n *node) address() string {
	if n == nil {
		return ""
	}
	return n.ip
}

// nodeMissing names what this machine lacks to run containers; empty when it can. The programs
// and files from Debian (runc, iptables, the CNI plugins, ...) are checked, and installed, by the
// caller: cluster/requirements.ts states them once.
func nodeMissing(containerdDir string) []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d)", os.Geteuid()))
	}
	if !hasCapSysAdmin() {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if err := probeCgroupWrite(); err != nil {
		missing = append(missing, "write access to the cgroup hierarchy ("+err.Error()+")")
	}
	var files []string
	for _, f := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "pause.tar"} {
		if _, err := os.Stat(filepath.Join(containerdDir, f)); err != nil {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		missing = append(missing, strings.Join(files, ", ")+" in --containerd-dir "+containerdDir+
			" (cluster/containerd/build.sh builds them)")
	}
	return missing
}

func hasCapSysAdmin() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
			return caps&(1<<21) != 0 // CAP_SYS_ADMIN
		}
	}
	return false
}

func probeCgroupWrite() error {
	dirs := kubepodsCgroups()
	if len(dirs) == 0 {
		return errors.New("no cgroup hierarchy mounted")
	}
	probe := filepath.Join(filepath.Dir(dirs[0]), fmt.Sprintf("hpsr-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return err
	}
	return syscall.Rmdir(probe)
}

// nodeIP is the address the API server (besides 127.0.0.1) and the kubelet serve on: the
// bridge's, in the pod network, which pods reach and other machines have no route to.
const nodeIP = "10.244.0.1"

// bridgeFree says why the pod network's bridge cannot be made: a link of that name exists or
// a route of the host overlaps the pod network (a VPN, another cluster's pods).
func bridgeFree() error {
	if _, err := netlink.LinkByName(bridgeName); err == nil {
		return fmt.Errorf("a network link named %s already exists: this run would use and remove it (ip link show %s; if it is left by a killed run, ip link delete %s)", bridgeName, bridgeName, bridgeName)
	}
	_, pods, _ := net.ParseCIDR(podCIDR)
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.To4() != nil && (pods.Contains(r.Dst.IP) || r.Dst.Contains(pods.IP)) && !r.Dst.IP.IsUnspecified() {
			return fmt.Errorf("the pod network %s overlaps the host's route to %s: another network uses these addresses", podCIDR, r.Dst)
		}
	}
	return nil
}

// createBridge makes the pod network's bridge with nodeIP before the API server starts (the
// bridge CNI plugin then uses it as it is).
func createBridge() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create the bridge %s: %w", bridgeName, err)
	}
	addr, _ := netlink.ParseAddr(nodeIP + "/" + strings.Split(podCIDR, "/")[1])
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, bridgeName, err)
	}
	return netlink.LinkSetUp(br)
}

// prepareNode takes the machine's node lock, cleans what a killed earlier run left, records
// the host state and writes certificates and configs. It runs before etcd starts.
func prepareNode(dataDir, name, containerdDir string, p *pki) (*node, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	n := &node{name: name, ip: nodeIP, dataDir: dataDir, self: self, containerdDir: containerdDir,
		paths: newNodePaths(dataDir), pki: p, spawn: make(chan func())}
	if n.unlock, err = lockNode(dataDir); err != nil {
		return nil, err
	}
	states, err := readHostStates()
	if err == nil {
		err = foreignNode(len(states) > 0)
	}
	if err == nil {
		err = cleanKilledRuns(states)
	}
	if err != nil {
		n.unlock()
		return nil, err
	}
	for _, d := range []string{n.paths.kubeletRoot, n.paths.containerdState, n.paths.cniIPAM} {
		if err := os.RemoveAll(d); err != nil { // a fresh node each run; images stay in containerd's root
			n.unlock()
			return nil, err
		}
	}
	if err := os.MkdirAll(n.paths.logs, 0o700); err != nil {
		n.unlock()
		return nil, err
	}
	if err := bridgeFree(); err != nil {
		n.unlock()
		return nil, err
	}
	if n.host, err = recordHostState(dataDir, bridgeName); err != nil {
		n.unlock()
		return nil, fmt.Errorf("record the host state: %w", err)
	}
	if err := createBridge(); err != nil {
		_ = n.host.restore("")
		n.unlock()
		return nil, err
	}
	go n.spawner()
	return n, nil
}

// spawner starts the children from one locked OS thread that never exits: Pdeathsig fires when
// the thread that forked a child exits, not the process.
func (n *node) spawner() {
	runtime.LockOSThread()
	for f := range n.spawn {
		f()
	}
}

func (n *node) start(name string, env []string, path string, args ...string) (*child, error) {
	var c *child
	var err error
	done := make(chan struct{})
	n.spawn <- func() { // one goroutine starts them all, so the list needs no lock
		c, err = startChild(name, filepath.Join(n.paths.logs, name+".log"), env, path, args...)
		if err == nil {
			n.children = append(n.children, c)
		}
		close(done)
	}
	<-done
	return c, err
}

// legacyRunsPath is where earlier versions listed their runs' data dirs; removed once empty.
const legacyRunsPath = "/run/hello-pepr-store-resources-node.runs"

// cleanKilledRuns puts back what killed runs left, from their records (readHostStates: a
// record is never read from a data dir, often a temporary one no later run uses).
func cleanKilledRuns(states []*hostState) error {
	if data, err := os.ReadFile(legacyRunsPath); err == nil && strings.TrimSpace(string(data)) == "" {
		_ = os.Remove(legacyRunsPath)
	}
	for _, old := range states {
		progress("node: cleaning up what the run of %s, killed after %s, left", old.DataDir, old.Recorded.Format(time.RFC3339))
		if err := old.restore(""); err != nil {
			return fmt.Errorf("clean up the node run of %s: %w", old.DataDir, err)
		}
	}
	return nil
}

// foreignKubelets are the programs of other Kubernetes nodes (and all-in-one distributions)
// that would share the kubepods cgroups and KUBE-* chains with ours.
var foreignKubelets = []string{"kubelet", "k3s", "k3s-server", "k3s-agent", "k0s", "rke2", "microk8s", "kube-proxy"}

// foreignNode says which other Kubernetes node runs on this machine: a kubelet (or k3s, k0s...)
// process in our mount namespace (kind's, in their containers, share nothing with ours), or,
// with no record of a killed run of ours to explain them, processes in the machine's kubepods
// cgroups (either cgroup driver). Our restore would take its chains and pods for ours.
func foreignNode(recorded bool) error {
	ourMounts, _ := os.Readlink("/proc/self/ns/mnt")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		mnt, _ := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "mnt"))
		if err == nil && mnt == ourMounts && slices.Contains(foreignKubelets, filepath.Base(exe)) {
			return fmt.Errorf("another Kubernetes node runs on this machine (pid %s: %s): stop it first, this node would share its cgroups and iptables chains", e.Name(), exe)
		}
	}
	pids := cgroupProcesses("kubepods.slice")
	if !recorded {
		for pid := range kubepodsProcesses() {
			pids[pid] = true
		}
	}
	if len(pids) > 0 {
		more := ""
		if len(pids) > 1 {
			more = fmt.Sprintf(" and %d more", len(pids)-1)
		}
		return fmt.Errorf("the pods of another Kubernetes node run in this machine's kubepods cgroups (pid %d%s): stop that node first", anyKey(pids), more)
	}
	return nil
}

func anyKey(m map[int]bool) int {
	for k := range m {
		return k
	}
	return 0
}

// lockNode takes the machine-wide node lock, waiting for another run's node to stop.
func lockNode(dataDir string) (unlock func(), err error) {
	f, err := os.OpenFile(nodeLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(nodeLockWait)
	for said := false; ; said = true {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			break
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(nodeLockPath)
			f.Close()
			return nil, fmt.Errorf("another node runs on this machine (%s) for %s", strings.TrimSpace(string(holder)), nodeLockWait)
		}
		if !said {
			holder, _ := os.ReadFile(nodeLockPath)
			progress("node: waiting for the node of another run to stop (%s)", strings.TrimSpace(string(holder)))
		}
		time.Sleep(time.Second)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d, data dir %s\n", os.Getpid(), dataDir)), 0)
	return func() { _ = f.Truncate(0); f.Close() }, nil
}

// httpOK is a readiness check: GET url answers 200 (TLS not verified: local health ports).
func httpOK(url string) func() error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // local health probe
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
}

// nodeReady checks the Node's Ready condition through the API.
func nodeReady(kubeconfig, name string) func() error {
	return func() error {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nd, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return errors.New("no Ready condition yet")
	}
}

// removePods stops and removes every pod sandbox through the CRI, so containerd tears down
// their networks (veth, IP, portmap rules) and mounts before it stops.
func (n *node) removePods() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, err := remote.NewRemoteRuntimeService(ctx, "unix://"+n.paths.socket, 5*time.Second, nil, false)
	if err != nil {
		return err
	}
	defer rs.Close(ctx) //nolint:errcheck
	pods, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		if err := rs.StopPodSandbox(ctx, p.Id); err != nil {
			errs = append(errs, err)
		}
		if err := rs.RemovePodSandbox(ctx, p.Id); err != nil {
			errs = append(errs, err)
		}
	}
	if len(pods) > 0 {
		progress("node: removed %d pod sandboxes", len(pods))
	}
	return errors.Join(errs...)
}

// stop stops the node in reverse order, then puts the machine back as recorded. Idempotent.
func (n *node) stop() error {
	if n == nil {
		return nil
	}
	n.stopOnce.Do(func() { n.stopErr = n.stopAll() })
	return n.stopErr
}

func (n *node) stopAll() error {
	_ = n.imagesImported() // a containerd still starting or importing is stopped with the rest
	step := time.Now()
	var errs []error
	byName := map[string]*child{}
	for _, c := range n.children {
		byName[c.name] = c
	}
	byName["kube-proxy"].stop(componentStopGrace)
	byName["kubelet"].stop(componentStopGrace)
	if c := byName["containerd"]; c != nil && !c.exited() {
		if err := n.removePods(); err != nil {
			errs = append(errs, fmt.Errorf("remove pods: %w", err))
		}
	}
	for i := len(n.children) - 1; i >= 0; i-- {
		n.children[i].stop(componentStopGrace)
	}
	close(n.spawn)
	if err := n.host.restore(n.paths.dir); err != nil {
		errs = append(errs, fmt.Errorf("restore the machine: %w", err))
	}
	n.unlock()
	progress("node stopped and the machine restored in %.1fs", time.Since(step).Seconds())
	return errors.Join(errs...)
}
