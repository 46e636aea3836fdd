package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// restore undoes the run recorded in hs and nothing else: it ends the run's processes,
// unmounts what is mounted under the data dir, removes the bridge, the run's iptables chains,
// the kubepods cgroups and the run's entries in the fixed paths it created, and puts back the
// sysctls that still hold the run's value. After a reboot only the created paths are left to
// undo. It goes on after an error and returns them all; the record is removed only when the
// check that follows finds nothing of the run left. With nodeDir set (our own run's stop) the
// check is also written there.
func (hs *hostState) restore(nodeDir string) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if hs.Boot == bootID() {
		add(killRunProcesses(hs.DataDir))
		add(unmountUnder(hs.DataDir))
		if link, err := netlink.LinkByName(hs.Bridge); hs.Bridge != "" && err == nil {
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
		for _, s := range hs.sysctlsStillChanged() {
			add(os.WriteFile(filepath.Join("/proc/sys", s), []byte(hs.Sysctls[s]), 0o644))
		}
	}
	for _, p := range fixedPaths {
		created := slices.Contains(hs.Created, p)
		if created {
			add(unmountUnder(p))
		}
		add(removeRunEntries(p, created, hs.runEntry))
	}
	check := hs.leftovers()
	data, _ := json.MarshalIndent(check, "", "  ")
	if nodeDir != "" {
		add(os.WriteFile(filepath.Join(nodeDir, stopCheckFile), data, 0o600))
	}
	for _, k := range check.Kept {
		progress("node: kept %s (in a path the run created, but not the run's)", k)
	}
	if !check.empty() {
		add(fmt.Errorf("the machine still holds what the run made: %s", data))
	}
	if len(errs) == 0 {
		add(hs.remove())
	}
	return errors.Join(errs...)
}

// stopCheckFile is written after a stop, while the machine's node lock is still held (no
// other run's node can be changing the machine): what the run left, all lists but Kept empty
// when the machine is back as it was.
const stopCheckFile = "stop-check.json"

type stopCheck struct {
	Chains    []string `json:"chains"`    // the run's chains still there
	Mounts    []string `json:"mounts"`    // mounts under the data dir
	Processes []int    `json:"processes"` // processes of the run
	Links     []string `json:"links"`     // the bridge
	Paths     []string `json:"paths"`     // the run's entries in created fixed paths, its kubepods cgroups
	Sysctls   []string `json:"sysctls"`   // sysctls still holding the run's value where it changed one
	Kept      []string `json:"kept"`      // entries of others in paths the run created: left as they are
}

func (c stopCheck) empty() bool {
	return len(c.Chains)+len(c.Mounts)+len(c.Processes)+len(c.Links)+len(c.Paths)+len(c.Sysctls) == 0
}

// leftovers looks for anything of the run still on the machine.
func (hs *hostState) leftovers() stopCheck {
	c := stopCheck{Chains: []string{}, Mounts: []string{}, Processes: []int{}, Links: []string{},
		Paths: []string{}, Sysctls: []string{}, Kept: []string{}}
	for _, p := range fixedPaths {
		created := slices.Contains(hs.Created, p)
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil || (path == p && !created):
			case hs.runEntry(path, d) && (created || !d.IsDir()):
				c.Paths = append(c.Paths, path)
			case created && !d.IsDir():
				c.Kept = append(c.Kept, path)
			}
			return nil
		})
	}
	if hs.Boot != bootID() {
		return c // the rest went with the reboot
	}
	c.Mounts = append(c.Mounts, mountsUnder(hs.DataDir)...)
	for _, cmd := range iptablesCommands {
		for _, table := range iptablesTables {
			for _, ch := range runChains(cmd, table, hs.Chains[cmd+"/"+table]) {
				c.Chains = append(c.Chains, cmd+" "+table+" "+ch)
			}
		}
	}
	for pid := range runProcesses(hs.DataDir, ourAncestors()) {
		c.Processes = append(c.Processes, pid)
	}
	if _, err := netlink.LinkByName(hs.Bridge); err == nil && hs.Bridge != "" {
		c.Links = append(c.Links, hs.Bridge)
	}
	for _, p := range hs.Cgroups {
		if _, err := os.Lstat(p); err == nil {
			c.Paths = append(c.Paths, p)
		}
	}
	c.Sysctls = append(c.Sysctls, hs.sysctlsStillChanged()...)
	return c
}

// sysctlsStillChanged are the sysctls the run changed that still hold the value it set (one
// that someone else changed since is theirs).
func (hs *hostState) sysctlsStillChanged() []string {
	var names []string
	for s, before := range hs.Sysctls {
		now, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err == nil && before != runSysctls[s] && strings.TrimSpace(string(now)) == runSysctls[s] {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	return names
}

// runEntry says whether a file or link in a fixed path the run created is the run's: the
// kubelet's device-plugin socket, the kubelet's /var/log/containers links into the data dir,
// libcni's cached results of the run's network (and containerd's loopback of its sandboxes),
// the shims' sockets named after the run's containerd. Folders are the run's when empty.
func (hs *hostState) runEntry(path string, d fs.DirEntry) bool {
	if d.IsDir() {
		entries, err := os.ReadDir(path)
		return err == nil && len(entries) == 0
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	switch dir {
	case "/var/lib/kubelet/device-plugins":
		return name == "kubelet.sock"
	case "/var/log/containers":
		target, err := os.Readlink(path)
		return err == nil && strings.HasPrefix(target, hs.DataDir+"/")
	case "/var/lib/cni/results":
		if strings.HasPrefix(name, cniNetwork+"-") {
			return true
		}
		id, ok := strings.CutPrefix(strings.TrimSuffix(name, "-lo"), "cni-loopback-")
		matches, _ := filepath.Glob(filepath.Join(dir, cniNetwork+"-"+id+"-*"))
		return ok && len(matches) > 0
	case "/run/containerd/s":
		return slices.Contains(hs.shimSockets(), name)
	}
	return false
}

// shimSockets are the names containerd's runc shim gives its sockets in /run/containerd/s for
// the run's sandboxes: sha256 of "<containerd address>/k8s.io/<id>[/debug]".
func (hs *hostState) shimSockets() []string {
	paths := newNodePaths(hs.DataDir)
	tasks, _ := os.ReadDir(filepath.Join(paths.containerdState, "io.containerd.runtime.v2.task", "k8s.io"))
	var names []string
	for _, t := range tasks {
		for _, suffix := range []string{"", "/debug"} {
			sum := sha256.Sum256([]byte(filepath.Join(paths.socket, "k8s.io", t.Name()) + suffix))
			names = append(names, fmt.Sprintf("%x", sum))
		}
	}
	return names
}

// removeRunEntries removes the run's files under root (see runEntry, decided for all before
// any is removed), then, when the run created root, the folders left empty, root included;
// anything else stays where it is.
func removeRunEntries(root string, created bool, runEntry func(string, fs.DirEntry) bool) error {
	var files, dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
		case d.IsDir():
			dirs = append(dirs, path)
		case runEntry(path, d):
			files = append(files, path)
		}
		return nil
	})
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for i := len(dirs) - 1; i >= 0 && created; i-- {
		_ = syscall.Rmdir(dirs[i]) // fails, and stays, when something else is in it
	}
	return errors.Join(errs...)
}

// kubepodsCgroups are the kubelet's pod cgroups (cgroupfs driver) in each mounted hierarchy.
func kubepodsCgroups() []string { return cgroupDirs("kubepods") }

// cgroupDirs are the paths of a cgroup at the root of each mounted hierarchy.
func cgroupDirs(name string) []string {
	var dirs []string
	for _, m := range mounts() {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			dirs = append(dirs, filepath.Join(m.point, name))
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
	spare := ourAncestors()
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
	pids := kubepodsProcesses()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
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

// kubepodsProcesses are the processes in the kubepods cgroups (the pods').
func kubepodsProcesses() map[int]bool { return cgroupProcesses("kubepods") }

// cgroupProcesses are the processes in the cgroup named name (and below) at the root of each
// mounted hierarchy.
func cgroupProcesses(name string) map[int]bool {
	pids := map[int]bool{}
	for _, dir := range cgroupDirs(name) {
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
	return pids
}

// ourAncestors are this process and its ancestors: never the run's to kill.
func ourAncestors() map[int]bool {
	spare := map[int]bool{}
	for pid := os.Getpid(); pid > 1; pid = parentPID(pid) {
		spare[pid] = true
	}
	return spare
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

// iptablesTimeout bounds every iptables call: the xtables lock (-w) or a hung kernel call must
// not hold a stop for ever.
const iptablesTimeout = 30 * time.Second

// runFor runs a command with stdin, killed after timeout, and returns its stdout.
func runFor(timeout time.Duration, stdin, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second // a child holding its output open must not hold us
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s: killed after %s", name, timeout)
	}
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", name, err, stderr.Bytes())
	}
	return out, nil
}

// iptablesSave lists a table's chains and its "-A" rules.
func iptablesSave(cmd, table string) (chains, rules []string, err error) {
	if _, err := exec.LookPath(cmd); err != nil {
		return nil, nil, nil
	}
	out, err := runFor(iptablesTimeout, "", cmd+"-save", "-t", table)
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

// cniNetwork is the name of the run's CNI network; the bridge plugin puts it in a comment on
// each rule of the chains it makes.
const cniNetwork = "hello-pepr-store-resources"

// runChains are the chains of a table the run made: those not there before that are
// kube-proxy's or the kubelet's (KUBE-*: no other node may run beside ours, see foreignNode)
// or the bridge plugin's for the run's network (CNI-* with a rule naming it). Another
// program's chains, podman's CNI-* included, are not the run's.
func runChains(cmd, table string, before []string) []string {
	chains, rules, _ := iptablesSave(cmd, table)
	var ours []string
	for _, c := range chains {
		if slices.Contains(before, c) {
			continue
		}
		if strings.HasPrefix(c, "KUBE-") || strings.HasPrefix(c, "CNI-") && slices.ContainsFunc(rules, func(r string) bool {
			return strings.HasPrefix(r, "-A "+c+" ") && strings.Contains(r, `name: \"`+cniNetwork+`\"`)
		}) {
			ours = append(ours, c)
		}
	}
	return ours
}

// removeRunChains deletes the run's chains of a table (see runChains) and the rules of other
// chains that jump to them, in one iptables-restore --noflush.
func removeRunChains(cmd, table string, before []string) error {
	_, rules, err := iptablesSave(cmd, table)
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, c := range runChains(cmd, table, before) {
		ours[c] = true
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
	if _, err := runFor(iptablesTimeout, script.String(), cmd+"-restore", "-w", "5", "--noflush"); err != nil {
		return fmt.Errorf("%s (%s): %w", cmd+"-restore", table, err)
	}
	return nil
}
