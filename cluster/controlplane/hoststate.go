package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// hostState is what a node run changes outside its data dir, recorded before it starts so that
// its stop, or the next node start after a killed run, puts the machine back: the sysctls the
// run may set (with their values before), the fixed paths absent before (the kubelet, CNI and
// containerd use them whatever their configuration says), the iptables chains that existed
// before, the bridge it makes and the kubepods cgroups absent before.
//
// Records live in a root-only folder outside the data dir (a data dir may be a /tmp path that
// another user can recreate once its owner deleted it), name the boot they were made in, are
// validated when read, and are removed only once the restore has been checked.
type hostState struct {
	DataDir  string              `json:"dataDir"`
	Boot     string              `json:"boot"`    // /proc/sys/kernel/random/boot_id when recorded
	Sysctls  map[string]string   `json:"sysctls"` // name under /proc/sys -> value before the run
	Created  []string            `json:"created"` // fixed paths absent before the run
	Chains   map[string][]string `json:"chains"`  // "iptables/nat" -> chains before the run
	Bridge   string              `json:"bridge"`  // made by the run
	Cgroups  []string            `json:"cgroups"` // kubepods cgroup dirs absent before the run
	Recorded time.Time           `json:"recorded"`
}

// runSysctls are the sysctls a node run may set, with the value it sets: the kubelet's kernel
// tunables (protectKernelDefaults: false; true would refuse to start on most machines), IP
// forwarding (the bridge CNI plugin), bridge netfilter and route_localnet. A sysctl is put back
// only while it still holds the run's value: a change made by someone else during the run stays.
var runSysctls = map[string]string{
	"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10", "kernel/panic_on_oops": "1",
	"kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
	"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1", "net/ipv4/conf/all/route_localnet": "1",
	"net/bridge/bridge-nf-call-iptables": "1", "net/bridge/bridge-nf-call-ip6tables": "1",
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
	chainName        = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	sysctlValue      = regexp.MustCompile(`^[0-9\t -]{1,64}$`)
)

// hostStateDir holds the records of node runs not yet put back, one file per data dir; root's
// only (0700), removed when empty.
const hostStateDir = "/var/lib/hello-pepr-store-resources/node-runs"

func hostStatePath(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(hostStateDir, fmt.Sprintf("%x.json", sum[:8]))
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// recordHostState writes what the machine looks like before a node starts.
func recordHostState(dataDir, bridge string) (*hostState, error) {
	hs := &hostState{DataDir: dataDir, Boot: bootID(), Sysctls: map[string]string{},
		Chains: map[string][]string{}, Bridge: bridge, Recorded: time.Now()}
	for s := range runSysctls {
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
	return hs, hs.save()
}

func (hs *hostState) save() error {
	if err := os.MkdirAll(hostStateDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(hostStateDir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(hs, "", "  ")
	if err != nil {
		return err
	}
	tmp := hostStatePath(hs.DataDir) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, hostStatePath(hs.DataDir))
}

// remove deletes the record, and the records folder (and its parent) once empty.
func (hs *hostState) remove() error {
	if err := os.Remove(hostStatePath(hs.DataDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = syscall.Rmdir(hostStateDir)
	_ = syscall.Rmdir(filepath.Dir(hostStateDir))
	return nil
}

// readHostStates returns the records of runs not yet put back (killed ones, or ours from a
// killed start). A record that is not valid is an error naming it: it is never acted on.
func readHostStates() ([]*hostState, error) {
	if err := ownedByRootOnly(hostStateDir, true); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	names, _ := filepath.Glob(filepath.Join(hostStateDir, "*.json"))
	var states []*hostState
	for _, path := range names {
		hs, err := readHostState(path)
		if err != nil {
			return nil, fmt.Errorf("the host-state record %s is refused (%w): check the machine by hand, then remove the file", path, err)
		}
		states = append(states, hs)
	}
	return states, nil
}

func readHostState(path string) (*hostState, error) {
	if err := ownedByRootOnly(path, false); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	hs := &hostState{}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(hs); err != nil {
		return nil, err
	}
	if hostStatePath(hs.DataDir) != path {
		return nil, fmt.Errorf("its data dir %q is not the one its name stands for", hs.DataDir)
	}
	return hs, hs.validate()
}

// validate checks that a record only names what a run can have changed: known sysctls with
// numeric values, fixed paths, kubepods cgroups, chain names, our bridge, a clean absolute
// data dir.
func (hs *hostState) validate() error {
	if !filepath.IsAbs(hs.DataDir) || filepath.Clean(hs.DataDir) != hs.DataDir || hs.DataDir == "/" {
		return fmt.Errorf("data dir %q is not a clean absolute path", hs.DataDir)
	}
	for s, v := range hs.Sysctls {
		if _, known := runSysctls[s]; !known {
			return fmt.Errorf("unknown sysctl %q", s)
		}
		if !sysctlValue.MatchString(v) {
			return fmt.Errorf("sysctl %s has a value that is not numeric: %q", s, v)
		}
	}
	for _, p := range hs.Created {
		if !slices.Contains(fixedPaths, p) {
			return fmt.Errorf("created path %q is not one of the node's fixed paths", p)
		}
	}
	cgroups := kubepodsCgroups()
	for _, c := range hs.Cgroups {
		if !slices.Contains(cgroups, c) {
			return fmt.Errorf("cgroup %q is not a kubepods cgroup of this machine", c)
		}
	}
	for key, chains := range hs.Chains {
		cmd, table, _ := strings.Cut(key, "/")
		if !slices.Contains(iptablesCommands, cmd) || !slices.Contains(iptablesTables, table) {
			return fmt.Errorf("unknown iptables table %q", key)
		}
		for _, c := range chains {
			if !chainName.MatchString(c) {
				return fmt.Errorf("chain name %q", c)
			}
		}
	}
	if hs.Bridge != "" && hs.Bridge != bridgeName {
		return fmt.Errorf("bridge %q is not %s", hs.Bridge, bridgeName)
	}
	return nil
}

// ownedByRootOnly checks that path is no symlink, belongs to root and that nobody else can
// write it (a folder: nor read or enter it).
func ownedByRootOnly(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok || st.Uid != 0:
		return fmt.Errorf("%s is not owned by root", path)
	case dir && (!fi.IsDir() || fi.Mode().Perm()&0o077 != 0):
		return fmt.Errorf("%s is not a folder only root can use (mode %v)", path, fi.Mode())
	case !dir && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0):
		return fmt.Errorf("%s is not a regular file only root can write (mode %v)", path, fi.Mode())
	}
	return nil
}
