package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// hostState is what a node run changes outside its data dir, recorded before it starts (in
// <data-dir>/node/host-state.json) so that its stop, or the next start after a killed run,
// puts the machine back: sysctls to restore, fixed paths the kubelet, CNI and containerd use
// whatever their root dir says (removed if the run created them), the iptables chains that
// existed before (any other KUBE-*/CNI-* chain is the run's), the bridge and the kubepods
// cgroups.
type hostState struct {
	DataDir  string              `json:"dataDir"`
	Sysctls  map[string]string   `json:"sysctls"`
	Created  []string            `json:"created"` // fixed paths absent before the run
	Chains   map[string][]string `json:"chains"`  // "iptables/nat" -> chains before the run
	Bridge   string              `json:"bridge"`
	Cgroups  []string            `json:"cgroups"` // cgroup dirs absent before the run
	Recorded time.Time           `json:"recorded"`
}

// nodeSysctls are the sysctls the kubelet (protectKernelDefaults: false), kube-proxy and the
// bridge CNI plugin may set.
var nodeSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet", "net/ipv6/conf/all/forwarding",
	"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
}

// fixedPaths are used by the node whatever its configuration says.
var fixedPaths = []string{
	"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/var/lib/cni",
	"/usr/libexec/kubernetes", "/run/containerd", "/run/netns", "/var/run/netns", "/etc/cni", "/opt/cni",
}

var (
	iptablesTables = []string{"filter", "nat", "mangle", "raw"}
	// the default (nft on Debian 12) and the legacy backend: components probe both
	iptablesCommands = []string{"iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy"}
	chainPrefixes    = []string{"KUBE-", "CNI-"}
)

func hostStatePath(nodeDir string) string { return filepath.Join(nodeDir, "host-state.json") }

// recordHostState writes what the machine looks like before a node starts.
func recordHostState(dataDir, nodeDir, bridge string) (*hostState, error) {
	hs := &hostState{DataDir: dataDir, Sysctls: map[string]string{}, Chains: map[string][]string{},
		Bridge: bridge, Recorded: time.Now()}
	for _, s := range nodeSysctls {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", s)); err == nil {
			hs.Sysctls[s] = strings.TrimSpace(string(v))
		}
	}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			hs.Created = append(hs.Created, p)
		}
	}
	for _, dir := range kubepodsCgroups() {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			hs.Cgroups = append(hs.Cgroups, dir)
		}
	}
	for _, cmd := range iptablesCommands {
		for _, table := range iptablesTables {
			chains, _, err := iptablesSave(cmd, table)
			if err != nil {
				return nil, err
			}
			hs.Chains[cmd+"/"+table] = chains
		}
	}
	data, err := json.MarshalIndent(hs, "", "  ")
	if err != nil {
		return nil, err
	}
	return hs, os.WriteFile(hostStatePath(nodeDir), data, 0o600)
}

// readHostState returns the record a previous run left (nil if none: it stopped cleanly).
func readHostState(nodeDir string) (*hostState, error) {
	data, err := os.ReadFile(hostStatePath(nodeDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hs := &hostState{}
	return hs, json.Unmarshal(data, hs)
}

// restore undoes the run recorded in hs: it ends the run's processes, unmounts what is
// mounted under the data dir, removes the bridge, the run's iptables chains, kubepods
// cgroups and created fixed paths, and restores the sysctls. It goes on after an error and
// returns them all; the record is removed only when everything succeeded.
func (hs *hostState) restore(nodeDir string) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(killRunProcesses(hs.DataDir))
	add(unmountUnder(hs.DataDir))
	if link, err := netlink.LinkByName(hs.Bridge); err == nil {
		add(netlink.LinkDel(link))
	}
	for _, cmd := range iptablesCommands {
		for _, table := range iptablesTables {
			add(removeRunChains(cmd, table, hs.Chains[cmd+"/"+table]))
		}
	}
	for _, dir := range hs.Cgroups {
		add(removeCgroupTree(dir))
	}
	for _, p := range hs.Created {
		add(unmountUnder(p))
		add(os.RemoveAll(p))
	}
	for s, v := range hs.Sysctls {
		path := filepath.Join("/proc/sys", s)
		if now, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(now)) != v {
			add(os.WriteFile(path, []byte(v), 0o644))
		}
	}
	check := hs.leftovers()
	data, _ := json.MarshalIndent(check, "", "  ")
	add(os.WriteFile(filepath.Join(nodeDir, stopCheckFile), data, 0o600))
	if !check.empty() {
		add(fmt.Errorf("the machine still holds what the run made: %s", data))
	}
	if len(errs) == 0 {
		add(os.Remove(hostStatePath(nodeDir)))
	}
	return errors.Join(errs...)
}

// stopCheckFile is written after a stop, while the machine's node lock is still held (no
// other run's node can be changing the machine): what the run left, all lists empty when
// the machine is back as it was.
const stopCheckFile = "stop-check.json"

type stopCheck struct {
	Chains    []string `json:"chains"`    // KUBE-*/CNI-* chains that were not there before
	Mounts    []string `json:"mounts"`    // mounts under the data dir
	Processes []int    `json:"processes"` // processes of the run
	Links     []string `json:"links"`     // the bridge
	Paths     []string `json:"paths"`     // fixed paths and kubepods cgroups the run created
	Sysctls   []string `json:"sysctls"`   // sysctls not back to their recorded value
}

func (c stopCheck) empty() bool {
	return len(c.Chains)+len(c.Mounts)+len(c.Processes)+len(c.Links)+len(c.Paths)+len(c.Sysctls) == 0
}

// leftovers looks for anything of the run still on the machine.
func (hs *hostState) leftovers() stopCheck {
	c := stopCheck{Chains: []string{}, Mounts: mountsUnder(hs.DataDir), Processes: []int{},
		Links: []string{}, Paths: []string{}, Sysctls: []string{}}
	if c.Mounts == nil {
		c.Mounts = []string{}
	}
	for _, cmd := range iptablesCommands {
		for _, table := range iptablesTables {
			chains, _, _ := iptablesSave(cmd, table)
			for _, ch := range chains {
				if !slices.Contains(hs.Chains[cmd+"/"+table], ch) && slices.ContainsFunc(chainPrefixes,
					func(p string) bool { return strings.HasPrefix(ch, p) }) {
					c.Chains = append(c.Chains, cmd+" "+table+" "+ch)
				}
			}
		}
	}
	spare := map[int]bool{}
	for pid := os.Getpid(); pid > 1; pid = parentPID(pid) {
		spare[pid] = true
	}
	for pid := range runProcesses(hs.DataDir, spare) {
		c.Processes = append(c.Processes, pid)
	}
	if _, err := netlink.LinkByName(hs.Bridge); err == nil {
		c.Links = append(c.Links, hs.Bridge)
	}
	for _, p := range append(slices.Clone(hs.Created), hs.Cgroups...) {
		if _, err := os.Lstat(p); err == nil {
			c.Paths = append(c.Paths, p)
		}
	}
	for s, v := range hs.Sysctls {
		if now, err := os.ReadFile(filepath.Join("/proc/sys", s)); err == nil && strings.TrimSpace(string(now)) != v {
			c.Sysctls = append(c.Sysctls, s)
		}
	}
	return c
}

// kubepodsCgroups are the kubelet's pod cgroups (cgroupfs driver) in each mounted hierarchy.
func kubepodsCgroups() []string {
	var dirs []string
	for _, m := range mounts() {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			dirs = append(dirs, filepath.Join(m.point, "kubepods"))
		}
	}
	return dirs
}

// runExecutables are the programs of a node run; a process running one of them with the data
// dir on its command line belongs to the run.
var runExecutables = []string{"controlplane", "containerd", "containerd-shim-runc-v2", "ctr", "runc"}

// killRunProcesses SIGKILLs the processes of a run: those in the kubepods cgroups (the pods)
// and the node's programs whose command line names the data dir (containerd, its shims, the
// kubelet...), never this process or its ancestors.
func killRunProcesses(dataDir string) error {
	self := os.Getpid()
	spare := map[int]bool{}
	for pid := self; pid > 1; pid = parentPID(pid) {
		spare[pid] = true
	}
	for attempt := 0; attempt < 50; attempt++ {
		pids := runProcesses(dataDir, spare)
		if len(pids) == 0 {
			return nil
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("processes of the node run in %s are still alive after SIGKILL", dataDir)
}

// runProcesses finds the processes of a run (see killRunProcesses), except those in spare.
func runProcesses(dataDir string, spare map[int]bool) map[int]bool {
	pids := map[int]bool{}
	for _, dir := range kubepodsCgroups() {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "cgroup.procs" {
				data, _ := os.ReadFile(path)
				for _, f := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids[pid] = true
					}
				}
			}
			return nil
		})
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || spare[pid] {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if slices.Contains(runExecutables, filepath.Base(exe)) && bytes.Contains(cmdline, []byte(dataDir)) {
			pids[pid] = true
		}
	}
	for pid := range spare {
		delete(pids, pid)
	}
	return pids
}

// parentPID reads a process's parent from /proc (0 when it is gone).
func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the command name (field 2) may hold spaces; the fields after its ")" are plain
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

type mount struct{ point, fstype string }

// mounts lists this mount namespace's mounts from /proc/self/mountinfo.
func mounts() []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		point, _ := strconv.Unquote(`"` + strings.ReplaceAll(fields[4], `"`, `\"`) + `"`)
		out = append(out, mount{point: point, fstype: fields[sep+1]})
	}
	return out
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	var points []string
	for _, m := range mounts() {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			points = append(points, m.point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return slices.Compact(points)
}

// unmountUnder detaches every mount at or below dir (volumes, rootfs, netns, shm...).
func unmountUnder(dir string) error {
	var errs []error
	for _, p := range mountsUnder(dir) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) &&
			!errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup dir and its children, deepest first (rmdir only: cgroup
// dirs cannot be removed recursively).
func removeCgroupTree(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		for attempt := 0; attempt < 20; attempt++ {
			if last = syscall.Rmdir(dirs[i]); last == nil || errors.Is(last, syscall.ENOENT) {
				last = nil
				break
			}
			time.Sleep(50 * time.Millisecond) // a killed task may still be leaving the cgroup
		}
	}
	if last != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, last)
	}
	return nil
}

// iptablesSave lists a table's chains and its "-A" rules.
func iptablesSave(cmd, table string) (chains, rules []string, err error) {
	if _, err := exec.LookPath(cmd); err != nil {
		return nil, nil, nil
	}
	out, err := exec.Command(cmd+"-save", "-t", table).Output()
	if err != nil {
		return nil, nil, nil // the table does not exist in this kernel
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			chains = append(chains, strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A "):
			rules = append(rules, line)
		}
	}
	return chains, rules, nil
}

// removeRunChains deletes the KUBE-*/CNI-* chains of a table that were not there before, and
// the rules of other chains that jump to them, in one iptables-restore --noflush.
func removeRunChains(cmd, table string, before []string) error {
	chains, rules, err := iptablesSave(cmd, table)
	if err != nil || len(chains) == 0 {
		return err
	}
	ours := map[string]bool{}
	for _, c := range chains {
		if !slices.Contains(before, c) && slices.ContainsFunc(chainPrefixes, func(p string) bool {
			return strings.HasPrefix(c, p)
		}) {
			ours[c] = true
		}
	}
	if len(ours) == 0 {
		return nil
	}
	var script strings.Builder
	fmt.Fprintf(&script, "*%s\n", table)
	for _, r := range rules {
		f := strings.Fields(r)
		target := ""
		if i := slices.IndexFunc(f, func(s string) bool { return s == "-j" || s == "-g" }); i >= 0 && i+1 < len(f) {
			target = f[i+1]
		}
		if !ours[f[1]] && ours[target] {
			fmt.Fprintf(&script, "-D%s\n", strings.TrimPrefix(r, "-A"))
		}
	}
	for c := range ours {
		fmt.Fprintf(&script, "-F %s\n", c)
	}
	for c := range ours {
		fmt.Fprintf(&script, "-X %s\n", c)
	}
	script.WriteString("COMMIT\n")
	restore := exec.Command(cmd+"-restore", "--noflush")
	restore.Stdin = strings.NewReader(script.String())
	if out, err := restore.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore (%s): %v: %s", cmd, table, err, out)
	}
	return nil
}
