package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startControllers starts kube-controller-manager (its default controller set) and
// kube-scheduler as processes and waits for their /healthz.
func (n *node) startControllers(server string) error {
	kcmKubeconfig := controllersKubeconfig(n.dataDir)
	schedCert, schedKey := n.pki.certPair("scheduler")
	if err := n.pki.ensureClient(schedCert, schedKey, "system:kube-scheduler", ""); err != nil {
		return err
	}
	schedKubeconfig := filepath.Join(n.paths.dir, "scheduler.kubeconfig")
	if err := writeKubeconfig(schedKubeconfig, server, n.pki.caCert, schedCert, schedKey); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	step := time.Now()
	kcm, err := n.start("kube-controller-manager", nil, n.self, "kube-controller-manager",
		"--kubeconfig="+kcmKubeconfig, "--authentication-kubeconfig="+kcmKubeconfig,
		"--authorization-kubeconfig="+kcmKubeconfig, "--leader-elect=false",
		"--controllers=*", "--use-service-account-credentials=true",
		"--root-ca-file="+n.pki.caCert, "--service-account-private-key-file="+n.pki.saKey,
		"--cluster-signing-cert-file="+n.pki.caCert, "--cluster-signing-key-file="+n.pki.caKey,
		"--service-cluster-ip-range=10.0.0.0/24", "--cluster-cidr="+podCIDR, "--allocate-node-cidrs=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]))
	if err != nil {
		return err
	}
	sched, err := n.start("kube-scheduler", nil, n.self, "kube-scheduler",
		"--kubeconfig="+schedKubeconfig, "--authentication-kubeconfig="+schedKubeconfig,
		"--authorization-kubeconfig="+schedKubeconfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[1]))
	if err != nil {
		return err
	}
	if err := kcm.waitFor(componentReadyTimeout, "/healthz", httpOK(fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]))); err != nil {
		return err
	}
	if err := sched.waitFor(componentReadyTimeout, "/healthz", httpOK(fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[1]))); err != nil {
		return err
	}
	progress("kube-controller-manager (all default controllers) and kube-scheduler ready in %.1fs", time.Since(step).Seconds())
	return nil
}

// pending is an error delivered once and read any number of times (nil: nothing was started).
type pending chan error

func (p pending) wait() error {
	if p == nil {
		return nil
	}
	err := <-p
	p <- err // for the next caller
	return err
}

// startRuntimeEarly starts containerd, then imports the images, while the API server starts: it
// needs neither, and importing an image takes seconds. The kubelet waits for containerd only
// (runtimeReady); the ready line waits for the images too (imagesImported).
func (n *node) startRuntimeEarly(images []string) {
	n.runtime, n.images = make(pending, 1), make(pending, 1)
	go func() {
		err := n.startRuntime()
		n.runtime <- err
		if err == nil {
			err = n.importImages(images)
		}
		n.images <- err
	}()
}

func (n *node) runtimeReady() error   { return n.runtime.wait() }
func (n *node) imagesImported() error { return n.images.wait() }

// startRuntime starts containerd and imports the pause image into its CRI namespace.
func (n *node) startRuntime() error {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return err
	}
	tag, err := os.ReadFile(filepath.Join(n.containerdDir, "pause.tag"))
	if err != nil {
		return err
	}
	cni, err := cniConfig(n.paths)
	if err != nil {
		return err
	}
	if err := writeFiles(map[string][]byte{
		n.paths.containerdConfig: []byte(containerdConfig(n.paths, runc, strings.TrimSpace(string(tag)))),
		filepath.Join(n.paths.cniConf, "10-hello-pepr-store-resources.conflist"): cni,
	}); err != nil {
		return err
	}
	step := time.Now()
	path := "PATH=" + n.containerdDir + ":" + os.Getenv("PATH") // containerd finds its shim on PATH
	ctrd, err := n.start("containerd", []string{path}, filepath.Join(n.containerdDir, "containerd"),
		"--config", n.paths.containerdConfig)
	if err != nil {
		return err
	}
	if err := ctrd.waitFor(componentReadyTimeout, "its socket", func() error {
		_, err := runFor(5*time.Second, "", n.ctr(), "--address", n.paths.socket, "version")
		return err
	}); err != nil {
		return err
	}
	if _, err := runFor(imageImportTimeout, "", n.ctr(), "--address", n.paths.socket, "-n", "k8s.io", "images", "import",
		"--base-name", pauseRepo, filepath.Join(n.containerdDir, "pause.tar")); err != nil {
		return fmt.Errorf("import the pause image: %w", err)
	}
	progress("containerd ready (pause image %s:%s imported) in %.1fs", pauseRepo, strings.TrimSpace(string(tag)), time.Since(step).Seconds())
	return nil
}

// imageImportTimeout bounds one `ctr images import` (the controller image takes 1-3 s).
const imageImportTimeout = 5 * time.Minute

// importImages imports OCI archives that name their image in full into the CRI namespace.
func (n *node) importImages(images []string) error {
	for _, archive := range images {
		step := time.Now()
		out, err := runFor(imageImportTimeout, "", n.ctr(), "--address", n.paths.socket, "-n", "k8s.io", "images", "import", archive)
		if err != nil {
			return fmt.Errorf("import %s: %w", archive, err)
		}
		progress("image %s imported in %.1fs", importedName(string(out)), time.Since(step).Seconds())
	}
	return nil
}

// importedName is the image name in the output of `ctr images import` ("NAME:TAG<TAB>saved").
func importedName(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutSuffix(strings.TrimSpace(line), "saved"); ok {
			return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(name), ":"))
		}
	}
	return "(name not printed)"
}

func (n *node) ctr() string { return filepath.Join(n.containerdDir, "ctr") }

// startKubelet starts the kubelet with a client certificate for system:node:<name> and a
// serving certificate from the cluster CA, and waits until the Node is Ready.
func (n *node) startKubelet(server, adminKubeconfig string) error {
	cert, key := n.pki.certPair("kubelet-client")
	if err := n.pki.ensureClient(cert, key, "system:node:"+n.name, "system:nodes"); err != nil {
		return err
	}
	servingCert, servingKey := n.pki.certPair("kubelet-serving")
	if err := n.pki.ensureServing(servingCert, servingKey, n.name, n.ip); err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.paths.dir, "kubelet.kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, n.pki.caCert, cert, key); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	cfg, err := kubeletConfig(n.paths, n.pki, n.ip, ports[0], ports[1])
	if err != nil {
		return err
	}
	if err := writeFiles(map[string][]byte{n.paths.kubeletConfig: cfg}); err != nil {
		return err
	}
	step := time.Now()
	kubelet, err := n.start("kubelet", nil, n.self, "kubelet", "--config="+n.paths.kubeletConfig,
		"--kubeconfig="+kubeconfig, "--root-dir="+n.paths.kubeletRoot, "--hostname-override="+n.name,
		"--node-ip="+n.ip, "--v=1")
	if err != nil {
		return err
	}
	if err := kubelet.waitFor(componentReadyTimeout, "/healthz", httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1]))); err != nil {
		return err
	}
	if err := kubelet.waitFor(componentReadyTimeout, "node "+n.name+" Ready", nodeReady(adminKubeconfig, n.name)); err != nil {
		return err
	}
	progress("kubelet ready, node %s (%s) Ready in %.1fs", n.name, n.ip, time.Since(step).Seconds())
	return nil
}

// startProxy starts kube-proxy (iptables mode) and waits for its /healthz.
func (n *node) startProxy(server string) error {
	cert, key := n.pki.certPair("kube-proxy")
	if err := n.pki.ensureClient(cert, key, "system:kube-proxy", ""); err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.paths.dir, "kube-proxy.kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, n.pki.caCert, cert, key); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	cfg, err := proxyConfig(kubeconfig, n.name, ports[0], ports[1])
	if err != nil {
		return err
	}
	if err := writeFiles(map[string][]byte{n.paths.proxyConfig: cfg}); err != nil {
		return err
	}
	step := time.Now()
	proxy, err := n.start("kube-proxy", nil, n.self, "kube-proxy", "--config="+n.paths.proxyConfig, "--v=1")
	if err != nil {
		return err
	}
	if err := proxy.waitFor(componentReadyTimeout, "/healthz", httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0]))); err != nil {
		return err
	}
	progress("kube-proxy (iptables) ready in %.1fs", time.Since(step).Seconds())
	return nil
}

// freePorts picks count distinct free ports on 127.0.0.1 (all listened on at once).
func freePorts(count int) ([]int, error) {
	ports := make([]int, count)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
