package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/cluster"
	"github.com/tierguard/tierguard/test/dataplane"
	"github.com/tierguard/tierguard/test/harness"
)

// Ports every probe pod serves: the sample profile's flow port, a port no
// flow allows, and a UDP port.
var (
	flowPort   = dataplane.Port{Protocol: "TCP", Number: 443}
	closedPort = dataplane.Port{Protocol: "TCP", Number: 8080}
	udpPort    = dataplane.Port{Protocol: "UDP", Number: 53}
	allPorts   = []dataplane.Port{flowPort, closedPort, udpPort}
)

// probePodName is the probe pod of every namespace of the matrix.
const probePodName = "probe"

// probePod runs the probe's server as a workload that the restricted Pod
// Security level admits: non-root, no capabilities, no privilege
// escalation, the runtime's seccomp profile. Ports below 1024 are opened by
// the safe sysctl net.ipv4.ip_unprivileged_port_start, not by a capability.
func probePod(namespace, serviceAccount string, args ...string) *corev1.Pod {
	no, yes := false, true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: probePodName, Namespace: namespace, Labels: map[string]string{"app": "probe"}},
		Spec: corev1.PodSpec{
			ServiceAccountName:            serviceAccount,
			TerminationGracePeriodSeconds: new(int64),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
			},
			Containers: []corev1.Container{{
				Name: "probe", Image: cluster.ProbeImage, ImagePullPolicy: corev1.PullNever,
				Args: args,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// serverPod is the probe pod of a matrix namespace: it answers with the
// namespace's name on every port of allPorts.
func serverPod(namespace string) *corev1.Pod {
	return probePod(namespace, "", "serve", "--name", namespace, "--tcp", "443,8080", "--udp", "53")
}

// createNamespace creates a namespace with labels.
func createNamespace(ctx context.Context, name string, labels map[string]string) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	Expect(bed.Client.Create(ctx, ns)).To(Succeed())
}

// startPods creates pods and waits until each is Ready, returning their IPs
// by namespace.
func startPods(ctx context.Context, pods ...*corev1.Pod) map[string]string {
	GinkgoHelper()
	for _, p := range pods {
		Expect(bed.Client.Create(ctx, p)).To(Succeed())
	}
	ips := map[string]string{}
	for _, p := range pods {
		Eventually(ctx, func(g Gomega) {
			got := &corev1.Pod{}
			g.Expect(bed.Client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, got)).To(Succeed())
			g.Expect(podReady(got)).To(BeTrue(), "pod %s/%s: %s", p.Namespace, p.Name, got.Status.Phase)
			ips[p.Namespace] = got.Status.PodIP
		}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	}
	return ips
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// probeResult is one attempt, as the probe prints it.
type probeResult struct {
	Target string `json:"target"`
	Open   bool   `json:"open"`
	Peer   string `json:"peer"`
	Start  int64  `json:"start"`
	Micros int64  `json:"micros"`
}

// udpSource hands out UDP source ports no recent measurement used: a
// datagram matching the connection tracking entry of an earlier allowed
// exchange would pass whatever the policy says now.
var udpSource struct {
	sync.Mutex
	next int
}

func udpSourceBlock(n int) int {
	udpSource.Lock()
	defer udpSource.Unlock()
	if udpSource.next < 20000 || udpSource.next+n > 32000 {
		udpSource.next = 20000
	}
	first := udpSource.next
	udpSource.next += n
	return first
}

// target is a probe target string.
func target(ip string, p dataplane.Port) string {
	return fmt.Sprintf("%s:%s:%d", strings.ToLower(p.Protocol), ip, p.Number)
}

// measure runs the probe client in every namespace's pod (kubectl exec,
// through the API server and the kubelet) against every namespace's pod on
// every port, and returns the matrix. A cell is open only when the
// destination's name comes back.
func measure(ctx context.Context, namespaces []string, ips map[string]string) dataplane.Matrix {
	GinkgoHelper()
	open := map[dataplane.Cell]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(namespaces))
	for _, from := range namespaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var targets []string
			want := map[string]dataplane.Cell{}
			for _, to := range namespaces {
				for _, p := range allPorts {
					t := target(ips[to], p)
					targets = append(targets, t)
					want[t] = dataplane.Cell{From: from, To: to, Port: p}
				}
			}
			args := append([]string{"exec", "-n", from, probePodName, "--", "/probe", "dial", "--timeout", "2s",
				"--udp-source-port", fmt.Sprint(udpSourceBlock(len(targets)))}, targets...)
			out, err := kubectl.Quiet().Run(ctx, args...)
			if err != nil {
				errs <- fmt.Errorf("probe from %s: %w: %s", from, err, out)
				return
			}
			dec := json.NewDecoder(strings.NewReader(out))
			mu.Lock()
			defer mu.Unlock()
			for dec.More() {
				var r probeResult
				if err := dec.Decode(&r); err != nil {
					errs <- fmt.Errorf("probe from %s: %w", from, err)
					return
				}
				cell := want[r.Target]
				open[cell] = r.Open && r.Peer == cell.To
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
	return dataplane.NewMatrix(namespaces, allPorts, func(c dataplane.Cell) bool { return open[c] })
}

// expectMatrix measures until the matrix equals want (policies take effect
// a moment after they are written), then once more to see it hold.
func expectMatrix(ctx context.Context, namespaces []string, ips map[string]string, want dataplane.Matrix) dataplane.Matrix {
	GinkgoHelper()
	var got dataplane.Matrix
	Eventually(ctx, func() []string {
		got = measure(ctx, namespaces, ips)
		return got.Diff(want)
	}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(BeEmpty())
	got = measure(ctx, namespaces, ips)
	Expect(got.Diff(want)).To(BeEmpty(), "the matrix changed after matching")
	return got
}

// profileCondition returns a condition of a profile, or nil.
func profileCondition(ctx context.Context, name, condType string) *metav1.Condition {
	p := &segv1.SegmentationProfile{}
	if err := bed.Client.Get(ctx, types.NamespacedName{Name: name}, p); err != nil {
		return nil
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == condType {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// watcher runs `probe watch` in a pod through kubectl exec and collects its
// attempts.
type watcher struct {
	proc *harness.Process
	mu   sync.Mutex
	seen []probeResult
}

// startWatch tries from's pod to the target every 10 ms until stopped.
func startWatch(from, tgt string) *watcher {
	GinkgoHelper()
	w := &watcher{}
	w.proc = &harness.Process{
		Name: "watch " + from, Path: kubectl.Path, Dir: bed.WorkDir,
		Args:    []string{"--kubeconfig", bed.Plane.KubeconfigPath, "exec", "-n", from, probePodName, "--", "/probe", "watch", "--interval", "10ms", "--timeout", "250ms", tgt},
		LogPath: bed.LogDir() + "/watch-" + from + ".log",
		Stdout: func(line string) {
			var r probeResult
			if json.Unmarshal([]byte(line), &r) == nil {
				w.mu.Lock()
				w.seen = append(w.seen, r)
				w.mu.Unlock()
			}
		},
	}
	Expect(w.proc.Start()).To(Succeed())
	return w
}

// attempts returns the attempts that started at or after t.
func (w *watcher) attempts(t time.Time) []probeResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []probeResult
	for _, r := range w.seen {
		if r.Start >= t.UnixNano() {
			out = append(out, r)
		}
	}
	return out
}

// makeCommand is `make args...` in the repository with KUBECONFIG set, as a
// user runs it.
func makeCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = repoRoot
	cmd.Env = os.Environ()
	if bed != nil && bed.Plane != nil {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+bed.Plane.KubeconfigPath)
	}
	return cmd
}

// lines splits output into non-empty lines.
func lines(out string) []string {
	var ls []string
	sc := bufio.NewScanner(bytes.NewBufferString(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

func harnessSleep(ctx context.Context, d time.Duration) error { return harness.Sleep(ctx, d) }

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// show prints a measured matrix into the test output.
func show(title string, m dataplane.Matrix) {
	fmt.Printf("%s (%d of %d cells open)\n%s\n", title, m.CountOpen(), len(m.Cells()), m)
}

// exposureSince returns how long after t0 the watched path was last open
// (0: never), and how many of the attempts since t0 got through.
func exposureSince(w *watcher, t0 time.Time) (exposure time.Duration, through, tried int) {
	attempts := w.attempts(t0)
	for _, a := range attempts {
		if a.Open {
			through++
			exposure = max(exposure, time.Unix(0, a.Start+a.Micros*1000).Sub(t0))
		}
	}
	return exposure, through, len(attempts)
}
