package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	proxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

const (
	podCIDR    = "10.244.0.0/24"
	bridgeName = "hpsr0"
	cniBinDir  = "/usr/lib/cni" // Debian's containernetworking-plugins
	// pauseImage is the sandbox image build.sh in ../containerd makes from k8s' pause.c; it is
	// imported, never pulled.
	pauseRepo = "localhost/hello-pepr-store-resources/pause"
)

// nodePaths are the files and folders of one node run, all under <data-dir>/node.
type nodePaths struct {
	dir, logs                               string
	containerdRoot, containerdState, socket string
	containerdConfig, runcRoot              string
	cniConf, cniIPAM                        string
	kubeletRoot, kubeletConfig, podLogs     string
	volumePlugins, proxyConfig              string
}

func newNodePaths(dataDir string) nodePaths {
	d := filepath.Join(dataDir, "node")
	return nodePaths{
		dir: d, logs: filepath.Join(d, "logs"),
		containerdRoot: filepath.Join(d, "containerd", "root"), containerdState: filepath.Join(d, "containerd", "state"),
		socket: filepath.Join(d, "containerd", "containerd.sock"), containerdConfig: filepath.Join(d, "containerd", "config.toml"),
		runcRoot: filepath.Join(d, "containerd", "state", "runc"),
		cniConf:  filepath.Join(d, "cni", "net.d"), cniIPAM: filepath.Join(d, "cni", "ipam"),
		kubeletRoot: filepath.Join(d, "kubelet"), kubeletConfig: filepath.Join(d, "kubelet.yaml"),
		podLogs: filepath.Join(d, "pod-logs"), volumePlugins: filepath.Join(d, "volume-plugins"),
		proxyConfig: filepath.Join(d, "kube-proxy.yaml"),
	}
}

// containerdConfig is containerd's config (version 3): its own root, state and sockets in the
// data dir, the CRI plugin with Debian's runc and CNI plugins and the local pause image.
// restrict_oom_score_adj is required where root lacks CAP_SYS_RESOURCE (runc then fails with
// "can't get final child's PID from pipe"); NRI is off.
func containerdConfig(p nodePaths, runc, pauseTag string) string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return strings.Join([]string{
		`version = 3`,
		`root = ` + q(p.containerdRoot),
		`state = ` + q(p.containerdState),
		`imports = []`,
		`disabled_plugins = ["io.containerd.nri.v1.nri"]`,
		`[grpc]`,
		`  address = ` + q(p.socket),
		`[ttrpc]`,
		`  address = ` + q(p.socket+".ttrpc"),
		`[plugins.'io.containerd.internal.v1.opt']`,
		`  path = ` + q(filepath.Join(p.containerdRoot, "opt")),
		`[plugins.'io.containerd.cri.v1.images']`,
		`  snapshotter = "overlayfs"`,
		`  [plugins.'io.containerd.cri.v1.images'.pinned_images]`,
		`    sandbox = ` + q(pauseRepo+":"+pauseTag),
		`[plugins.'io.containerd.cri.v1.runtime']`,
		`  restrict_oom_score_adj = true`,
		`  netns_mounts_under_state_dir = true`,
		`  cdi_spec_dirs = []`,
		`  [plugins.'io.containerd.cri.v1.runtime'.containerd]`,
		`    default_runtime_name = "runc"`,
		`    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]`,
		`      runtime_type = "io.containerd.runc.v2"`,
		`      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]`,
		`        BinaryName = ` + q(runc),
		`        Root = ` + q(p.runcRoot),
		`        SystemdCgroup = false`,
		`  [plugins.'io.containerd.cri.v1.runtime'.cni]`,
		`    bin_dirs = [` + q(cniBinDir) + `]`,
		`    conf_dir = ` + q(p.cniConf),
		`[plugins.'io.containerd.grpc.v1.cri']`,
		`  stream_server_address = "127.0.0.1"`,
		`  stream_server_port = "0"`,
		``,
	}, "\n")
}

// cniConfig is one bridge network with host-local IPAM (its state in the data dir, not
// /var/lib/cni/networks) and portmap; containerd sets up loopback itself.
func cniConfig(p nodePaths) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "hello-pepr-store-resources",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridgeName, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": p.cniIPAM,
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}, "", "  ")
}

// kubeletConfig is the KubeletConfiguration for this machine kind: cgroup v1 (hybrid) with
// cgroupfs, no swap check, webhook authentication and authorization against the API server,
// a serving certificate from the cluster CA, logs and plugins inside the data dir, and
// eviction thresholds loose enough for a disk shared with other work.
func kubeletConfig(p nodePaths, pk *pki, nodeIP string, port, healthzPort int) ([]byte, error) {
	servingCert, servingKey := pk.certPair("kubelet-serving")
	c := kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Address:  nodeIP, Port: int32(port), ReadOnlyPort: 0,
		HealthzBindAddress: "127.0.0.1", HealthzPort: ptr.To(int32(healthzPort)),
		TLSCertFile: servingCert, TLSPrivateKeyFile: servingKey,
		RotateCertificates: false, ServerTLSBootstrap: false,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: pk.caCert},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		CgroupDriver:             "cgroupfs",
		FailCgroupV1:             ptr.To(false),
		FailSwapOn:               ptr.To(false),
		ProtectKernelDefaults:    false,
		ContainerRuntimeEndpoint: "unix://" + p.socket,
		ImageServiceEndpoint:     "unix://" + p.socket,
		PodLogsDir:               p.podLogs,
		VolumePluginDir:          p.volumePlugins,
		StaticPodPath:            "",
		ResolverConfig:           ptr.To("/etc/resolv.conf"),
		EvictionHard: map[string]string{"memory.available": "100Mi", "nodefs.available": "1%",
			"nodefs.inodesFree": "1%", "imagefs.available": "1%"},
		ImageGCHighThresholdPercent: ptr.To(int32(100)),
		ImageGCLowThresholdPercent:  ptr.To(int32(99)),
		SyncFrequency:               metav1.Duration{Duration: 10 * time.Second},
		NodeStatusReportFrequency:   metav1.Duration{Duration: 10 * time.Second},
		ShutdownGracePeriod:         metav1.Duration{},
	}
	return yaml.Marshal(c)
}

// proxyConfig is kube-proxy in iptables mode. It leaves the conntrack sysctls and
// route_localnet alone (no localhost NodePorts), so stopping has less to restore.
func proxyConfig(kubeconfig, nodeName string, healthzPort, metricsPort int) ([]byte, error) {
	zero := &metav1.Duration{}
	c := proxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		Mode:               "iptables",
		HostnameOverride:   nodeName,
		ClusterCIDR:        podCIDR,
		DetectLocalMode:    "ClusterCIDR",
		HealthzBindAddress: fmt.Sprintf("127.0.0.1:%d", healthzPort),
		MetricsBindAddress: fmt.Sprintf("127.0.0.1:%d", metricsPort),
		OOMScoreAdj:        ptr.To(int32(0)),
		IPTables:           proxyv1alpha1.KubeProxyIPTablesConfiguration{LocalhostNodePorts: ptr.To(false)},
		NodePortAddresses:  []string{nodeIP + "/32"}, // NodePorts on the bridge only, not the host's network
		Conntrack: proxyv1alpha1.KubeProxyConntrackConfiguration{MaxPerCore: ptr.To(int32(0)),
			Min: ptr.To(int32(0)), TCPEstablishedTimeout: zero, TCPCloseWaitTimeout: zero},
	}
	c.ClientConnection.Kubeconfig = kubeconfig
	return yaml.Marshal(c)
}

func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
