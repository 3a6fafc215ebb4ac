package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// cgroupRoot is where kubelet (cgroupfs driver, default cgroup root) puts
// pods: kubepods/ in every v1 hierarchy.
const cgroupRoot = "/sys/fs/cgroup"

// netnsDir is where containerd's CRI keeps pod network namespaces (cni-*).
const netnsDir = "/var/run/netns"

// cniCacheDir is libcni's cache of results, kept per network and container.
const cniCacheDir = "/var/lib/cni/results"

// Down stops everything Up started and removes what it changed, then checks
// that nothing is left. Safe on a partly started cluster.
func (c *Cluster) Down() error {
	if c.releaseLock == nil {
		return nil
	}
	var errs []error
	for _, p := range []*harness.Process{c.engine, c.proxy, c.kubelet, c.scheduler} {
		errs = append(errs, p.Stop(hostbed.StopGrace))
	}
	errs = append(errs, c.removeNode(), c.containerd.Stop(hostbed.StopGrace), c.removeNode(), removeShimState())
	errs = append(errs, c.unmountAndRemove())
	if c.Plane != nil {
		errs = append(errs, c.Plane.Stop())
	}
	hostbed.RunUndo() // the bridge and the guard; failures show in leftovers
	errs = append(errs, hostbed.RemoveKubeState(), hostbed.FlushConntrack(PodCIDR))
	for i := len(c.restores) - 1; i >= 0; i-- {
		errs = append(errs, c.restores[i]())
	}
	if os.Getenv("CLUSTER_KEEP_LOGS") == "" {
		errs = append(errs, os.RemoveAll(c.WorkDir))
	}
	if left := Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left on the machine after Down: %s", strings.Join(left, "; ")))
	}
	errs = append(errs, c.releaseLock())
	c.releaseLock = nil
	return errors.Join(errs...)
}

// removeLeftovers removes what a crashed run of either bed left, the work
// dir included: the control plane would otherwise reuse its etcd data.
func (c *Cluster) removeLeftovers() error {
	err := errors.Join(hostbed.RemoveLeftovers(), c.removeNode(), c.unmountAndRemove(), removeShimState())
	hostbed.RunUndo()
	if rmErr := os.RemoveAll(c.WorkDir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove the work dir of an earlier run: %w", rmErr))
	}
	return errors.Join(err, hostbed.RemoveKubeState())
}

// shimStateDirs hold what containerd 1.6 keeps outside its configured state
// dir: the shims' sockets (runtime/v2/shim: a fixed /run/containerd/s) and
// the CRI's stdio FIFOs.
var shimStateDirs = []string{"/run/containerd/s", "/run/containerd/fifo"}

// removeShimState empties shimStateDirs once no containerd runs on the
// machine (the bed's is stopped, and a containerd of the machine's own
// would still be using its entries).
func removeShimState() error {
	if containerdRunning() {
		return nil
	}
	var errs []error
	for _, dir := range shimStateDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// containerdRunning reports whether any containerd or shim process runs.
func containerdRunning() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.HasPrefix(filepath.Base(exe), "containerd") {
			return true
		}
	}
	return false
}

// removeNode kills what the containers left: containerd's shims of the
// bed's socket and every process in kubelet's pod cgroups, then removes
// those cgroups and the pods' network namespaces.
func (c *Cluster) removeNode() error {
	var errs []error
	// A shim may still be starting a container when the first kill lands:
	// kill shims and pod processes until none is left.
	sock := c.containerdSocket()
	for attempt := 0; attempt < 100; attempt++ {
		pids := append(processesWith(sock), podProcesses()...)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) && attempt == 99 {
				errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	errs = append(errs, removePodCgroups())
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			if _, err := hostbed.Run("ip", "netns", "delete", e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	results, _ := filepath.Glob(filepath.Join(cniCacheDir, CNINetworkName+"-*"))
	for _, r := range results {
		errs = append(errs, os.Remove(r))
	}
	return errors.Join(errs...)
}

// unmountAndRemove unmounts everything below the work dir (container root
// filesystems, sandbox shm, projected volumes), deepest first, and removes
// containerd's and kubelet's state (the logs stay until Down).
func (c *Cluster) unmountAndRemove() error {
	mounts := mountsUnder(c.WorkDir)
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	for _, dir := range []string{"containerd", "kubelet", "cni"} {
		if err := os.RemoveAll(c.path(dir)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what the bed leaves on the machine once down: recorded
// processes and containerd shims still running, pod processes and cgroups,
// mounts below the work dir, pod network namespaces, the bridge, guard
// rules, KUBE-* chains and ipsets, and kernel settings not restored. After
// Down it must be empty.
func Leftovers() []string {
	var found []string
	for pid, exe := range hostbed.RecordedProcesses() {
		found = append(found, fmt.Sprintf("process %d (%s) still recorded", pid, exe))
	}
	for _, pid := range processesWith(filepath.Join(workDir, "containerd", "containerd.sock")) {
		found = append(found, fmt.Sprintf("containerd shim %d", pid))
	}
	for _, pid := range podProcesses() {
		found = append(found, fmt.Sprintf("pod process %d", pid))
	}
	for _, dir := range podCgroups() {
		found = append(found, "cgroup "+dir)
	}
	for _, m := range mountsUnder(workDir) {
		found = append(found, "mount "+m)
	}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			found = append(found, "network namespace "+e.Name())
		}
	}
	if !containerdRunning() {
		for _, dir := range shimStateDirs {
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				found = append(found, fmt.Sprintf("%d entries in %s", len(entries), dir))
			}
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", BridgeName)); err == nil {
		found = append(found, "link "+BridgeName)
	}
	if out, err := hostbed.Run("iptables-save"); err == nil && strings.Contains(out, guardComment) {
		found = append(found, "guard rules in iptables")
	}
	found = append(found, hostbed.KubeLeftovers()...)
	for path, value := range hostbed.UnrestoredSysctls() {
		found = append(found, fmt.Sprintf("kernel setting %s not restored to %s", path, value))
	}
	return found
}

// processesWith returns the processes whose command line mentions s (the
// shims carry the containerd socket's path).
func processesWith(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// podCgroups returns kubelet's pod cgroup directories, deepest first.
func podCgroups() []string {
	var dirs []string
	hierarchies, _ := os.ReadDir(cgroupRoot)
	for _, h := range hierarchies {
		root := filepath.Join(cgroupRoot, h.Name(), "kubepods")
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs
}

// podProcesses returns the processes in kubelet's pod cgroups.
func podProcesses() []int {
	seen := map[int]bool{}
	var pids []int
	for _, dir := range podCgroups() {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// removePodCgroups removes kubelet's pod cgroups once empty.
func removePodCgroups() error {
	var errs []error
	for _, dir := range podCgroups() {
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder returns the mount points at or below dir.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var mounts []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 {
			point := strings.ReplaceAll(fields[4], `\040`, " ")
			if point == dir || strings.HasPrefix(point, dir+"/") {
				mounts = append(mounts, point)
			}
		}
	}
	return mounts
}

// removeKubeRouterState removes kube-router's chains and ipsets only.
func removeKubeRouterState() error { return hostbed.RemoveState(hostbed.KubeRouterPrefixes...) }
