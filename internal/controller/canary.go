package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/canary"
	"github.com/tierguard/tierguard/internal/metrics"
	"github.com/tierguard/tierguard/internal/render"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;create;delete

// Names and labels of the canary's pods.
const (
	canaryServerPod = "canary-server"
	canaryClientPod = "canary-client"
	canaryRoleLabel = "segmentation.tierguard.io/canary-role"
	// canaryTick is how often the runner looks at every profile.
	canaryTick = 2 * time.Second
	// canaryRoundTimeout bounds a round: clients that have not finished by
	// then make it Inconclusive.
	canaryRoundTimeout = 90 * time.Second
	// canaryDialTimeout is each client's time per path.
	canaryDialTimeout = 2 * time.Second
	maxCanaryRounds   = 5
)

// CanaryRunner runs the enforcement canary of every profile that has one
// (spec.canary, mode Enforce): it creates the canary's namespaces (members
// of their tiers, see render.Effective), keeps a server pod in each, and
// every interval starts one client pod per source namespace that tries the
// round's paths (internal/canary) and exits with its results as its
// termination message. It keeps the results; the profile's pass writes
// them into status (one status writer), triggered through Trigger.
//
// Probe pods run the manager's own image, with no ServiceAccount token,
// under the restricted Pod Security level, 10m CPU and 16Mi memory.
type CanaryRunner struct {
	// Client reads profiles and namespaces from the cache and writes.
	Client client.Client
	// APIReader reads the canary's pods (not cached: few, in few
	// namespaces, read only while a round runs).
	APIReader client.Reader
	// Image is the probe pods' image; empty: the manager's own, read from
	// its pod (POD_NAMESPACE, POD_NAME).
	Image string
	// PodNamespace and PodName locate the manager's own pod.
	PodNamespace, PodName string

	trigger chan<- event.GenericEvent
	mu      sync.Mutex
	states  map[string]*canaryState
}

// canaryState is one profile's canary.
type canaryState struct {
	rounds       []segv1.CanaryRound
	lastVerified *metav1.Time
	// message explains the last round's result.
	message string
	// pending says why no round has a result yet (setting up, an error).
	pending string
	// stale is set once no round has finished for two intervals and a
	// round's timeout: the last result no longer vouches for the cluster.
	stale bool
	// next is when the next round may start; started when the running
	// round did (zero: none runs); paths are its paths.
	next    time.Time
	started time.Time
	paths   []canary.Path
}

// canaryResult is what a pass writes into status for the canary.
type canaryResult struct {
	status *segv1.CanaryStatus
	// message explains the last round; pending, while there is none, why.
	message, pending string
	// stale: no round has finished for too long (see canaryState.stale).
	stale bool
}

// Result returns the profile's canary result for its status, or nil when
// the canary does not run.
func (c *CanaryRunner) Result(profile string) *canaryResult {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.states[profile]
	if s == nil {
		return &canaryResult{pending: "setting up the canary's namespaces and pods"}
	}
	r := &canaryResult{message: s.message, pending: s.pending, stale: s.stale}
	if len(s.rounds) > 0 || s.lastVerified != nil {
		r.status = &segv1.CanaryStatus{LastVerifiedTime: s.lastVerified.DeepCopy(), Rounds: slices.Clone(s.rounds)}
	}
	return r
}

// NeedLeaderElection is true: only the leader runs rounds.
func (c *CanaryRunner) NeedLeaderElection() bool { return true }

// Start runs the canary until ctx ends.
func (c *CanaryRunner) Start(ctx context.Context) error {
	ticker := time.NewTicker(canaryTick)
	defer ticker.Stop()
	for {
		c.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (c *CanaryRunner) tick(ctx context.Context) {
	log := logf.FromContext(ctx).WithName("canary")
	profiles := &segv1.SegmentationProfileList{}
	if err := c.Client.List(ctx, profiles); err != nil {
		log.Error(err, "List profiles")
		return
	}
	on := map[string]bool{}
	for i := range profiles.Items {
		p := &profiles.Items[i]
		if !render.CanaryOn(p) || !p.DeletionTimestamp.IsZero() {
			continue
		}
		on[p.Name] = true
		if err := c.step(ctx, p); err != nil {
			log.Error(err, "Canary", "profile", p.Name)
			c.setPending(p.Name, err.Error())
		}
		c.checkStale(p)
	}
	// Profiles whose canary is off (or gone): remove its namespaces.
	namespaces := &corev1.NamespaceList{}
	if err := c.Client.List(ctx, namespaces, client.HasLabels{render.CanaryLabel}); err != nil {
		log.Error(err, "List canary namespaces")
		return
	}
	for i := range namespaces.Items {
		ns := &namespaces.Items[i]
		// Only namespaces the canary made: its name pattern and Tierguard's
		// label, not merely a canary label someone who may assign put on a
		// namespace of theirs.
		profile := ns.Labels[render.CanaryLabel]
		ours := ns.Labels[render.ManagedByLabel] == render.ManagedByValue &&
			strings.HasPrefix(ns.Name, segv1.CanaryNamespace(profile, ""))
		if ours && !on[profile] && ns.DeletionTimestamp.IsZero() {
			if err := c.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
				log.Error(err, "Delete canary namespace", "namespace", ns.Name)
			}
		}
	}
	c.mu.Lock()
	for name := range c.states {
		if !on[name] {
			delete(c.states, name)
			c.notify(name)
		}
	}
	c.mu.Unlock()
}

func (c *CanaryRunner) state(profile string) *canaryState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil {
		c.states = map[string]*canaryState{}
	}
	s := c.states[profile]
	if s == nil {
		s = &canaryState{}
		c.states[profile] = s
	}
	return s
}

func (c *CanaryRunner) setPending(profile, why string) {
	s := c.state(profile)
	c.mu.Lock()
	changed := s.pending != why
	s.pending = why
	c.mu.Unlock()
	if changed && len(s.rounds) == 0 {
		c.notify(profile)
	}
}

// checkStale marks a profile's result stale once no round has finished for
// two intervals and a round's timeout (the canary cannot run: pods refused,
// a namespace it may not adopt), so that EnforcementVerified does not keep
// vouching for a cluster nobody checks any more.
func (c *CanaryRunner) checkStale(p *segv1.SegmentationProfile) {
	s := c.state(p.Name)
	c.mu.Lock()
	stale := len(s.rounds) > 0 && time.Since(s.rounds[0].Time.Time) > 2*canaryInterval(p)+canaryRoundTimeout
	changed := stale != s.stale
	s.stale = stale
	c.mu.Unlock()
	if changed {
		c.notify(p.Name)
	}
}

// notify enqueues a pass of the profile, which writes the result.
func (c *CanaryRunner) notify(profile string) {
	if c.trigger == nil {
		return
	}
	select {
	case c.trigger <- event.GenericEvent{Object: &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: profile}}}:
	default:
	}
}

// step advances one profile's canary: namespaces, servers, then a round.
func (c *CanaryRunner) step(ctx context.Context, p *segv1.SegmentationProfile) error {
	s := c.state(p.Name)
	names := render.CanaryNamespaces(p)
	image, err := c.image(ctx)
	if err != nil {
		return err
	}
	ready := true
	for tier, ns := range names {
		governed, err := c.ensureNamespace(ctx, p, tier, ns)
		if err != nil {
			return err
		}
		ready = ready && governed
	}
	if !ready {
		c.setPending(p.Name, "waiting until the canary's namespaces are governed")
		return nil
	}
	// Between rounds nothing is read from the API server: the servers are
	// checked when a round is due.
	if s.started.IsZero() && time.Now().Before(s.next) {
		return nil
	}
	paths := canary.Paths(p)
	tcp, udp := canary.ServerPorts(paths)
	ips := map[string]string{}
	for _, ns := range names {
		ip, err := c.ensureServer(ctx, ns, image, tcp, udp)
		if err != nil {
			return err
		}
		if ip == "" {
			c.setPending(p.Name, "waiting until the canary's server pods are ready")
			return nil
		}
		ips[ns] = ip
	}
	if s.started.IsZero() {
		return c.startRound(ctx, s, names, ips, paths, image)
	}
	return c.finishRound(ctx, p, s, names)
}

// image returns the probe pods' image: the manager's own.
func (c *CanaryRunner) image(ctx context.Context) (string, error) {
	if c.Image != "" {
		return c.Image, nil
	}
	if c.PodName == "" || c.PodNamespace == "" {
		return "", errors.New("the manager cannot tell its own image (POD_NAME and POD_NAMESPACE unset): set --canary-image")
	}
	pod := &corev1.Pod{}
	if err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: c.PodNamespace, Name: c.PodName}, pod); err != nil {
		return "", fmt.Errorf("read the manager's own pod for its image: %w", err)
	}
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == "manager" || len(pod.Spec.Containers) == 1 {
			c.Image = ctr.Image
			return c.Image, nil
		}
	}
	return "", fmt.Errorf("the manager's pod %s/%s has no container named manager", c.PodNamespace, c.PodName)
}

// ensureNamespace creates the canary namespace when missing and reports
// whether Tierguard governs it yet (its tier label is set). A namespace of
// that name that is not the canary's is never adopted.
func (c *CanaryRunner) ensureNamespace(ctx context.Context, p *segv1.SegmentationProfile, tier, name string) (bool, error) {
	ns := &corev1.Namespace{}
	err := c.Client.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				render.CanaryLabel:                   p.Name,
				render.ManagedByLabel:                render.ManagedByValue,
				"pod-security.kubernetes.io/enforce": "restricted",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: segv1.GroupVersion.String(), Kind: "SegmentationProfile", Name: p.Name, UID: p.UID}},
		}}
		if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("create canary namespace %s: %w", name, err)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read canary namespace %s: %w", name, err)
	}
	if ns.Labels[render.CanaryLabel] != p.Name {
		return false, fmt.Errorf("namespace %s exists and is not this profile's canary (label %s=%s missing): Tierguard does not adopt it; delete or rename it", name, render.CanaryLabel, p.Name)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return false, nil
	}
	if tier == segv1.CanarySharedSuffix {
		return true, nil
	}
	return ns.Labels[render.TierLabelKey(p)] == tier, nil
}

// ensureServer keeps the namespace's server pod with the wanted ports and
// returns its IP once it is Ready ("" before).
func (c *CanaryRunner) ensureServer(ctx context.Context, ns, image string, tcp, udp []int32) (string, error) {
	want := canaryPod(ns, canaryServerPod, image, "server",
		[]string{"canary", "serve", "--name", ns, "--tcp", joinPorts(tcp), "--udp", joinPorts(udp)}, corev1.RestartPolicyAlways)
	pod := &corev1.Pod{}
	err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: canaryServerPod}, pod)
	if apierrors.IsNotFound(err) {
		if err := c.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create canary server in %s: %w", ns, err)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read canary server in %s: %w", ns, err)
	}
	if !pod.DeletionTimestamp.IsZero() {
		return "", nil
	}
	if !slices.Equal(pod.Spec.Containers[0].Args, want.Spec.Containers[0].Args) || pod.Spec.Containers[0].Image != image ||
		pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return "", c.deletePod(ctx, pod)
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return pod.Status.PodIP, nil
		}
	}
	return "", nil
}

// startRound starts one client per source namespace of the round's paths.
func (c *CanaryRunner) startRound(ctx context.Context, s *canaryState,
	names, ips map[string]string, paths []canary.Path, image string) error {
	bySource := map[string][]string{}
	for _, path := range paths {
		to := names[path.To]
		target := canary.Target{Protocol: strings.ToLower(string(path.Protocol)), Addr: ips[to] + ":" + strconv.Itoa(int(path.Port)), Expect: to}
		bySource[path.From] = append(bySource[path.From], target.String())
	}
	for from, targets := range bySource {
		ns := names[from]
		old := &corev1.Pod{}
		if err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: canaryClientPod}, old); err == nil {
			if err := c.deletePod(ctx, old); err != nil {
				return err
			}
			return nil // start once the last round's client is gone
		}
		args := append([]string{"canary", "dial", "--timeout", canaryDialTimeout.String()}, targets...)
		pod := canaryPod(ns, canaryClientPod, image, "client", args, corev1.RestartPolicyNever)
		if err := c.Client.Create(ctx, pod); err != nil {
			return fmt.Errorf("create canary client in %s: %w", ns, err)
		}
	}
	c.mu.Lock()
	s.started, s.paths = time.Now(), paths
	c.mu.Unlock()
	return nil
}

// finishRound reads the clients' results once all have terminated (or the
// round timed out), judges the round and removes the clients.
func (c *CanaryRunner) finishRound(ctx context.Context, p *segv1.SegmentationProfile, s *canaryState, names map[string]string) error {
	sources := map[string]bool{}
	for _, path := range s.paths {
		sources[path.From] = true
	}
	results := map[string]string{}
	nodes := map[string]string{}
	clients := []*corev1.Pod{}
	done := true
	for from := range sources {
		pod := &corev1.Pod{}
		if err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: names[from], Name: canaryClientPod}, pod); err != nil {
			if apierrors.IsNotFound(err) {
				done = false
				continue
			}
			return fmt.Errorf("read canary client in %s: %w", names[from], err)
		}
		clients = append(clients, pod)
		nodes[from] = pod.Spec.NodeName
		if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
			done = false
			continue
		}
		results[from] = strings.TrimSpace(pod.Status.ContainerStatuses[0].State.Terminated.Message)
	}
	timedOut := time.Since(s.started) > canaryRoundTimeout
	if !done && !timedOut {
		return nil
	}
	var obs []canary.Observation
	index := map[string]int{}
	for _, path := range s.paths {
		i := index[path.From]
		index[path.From]++
		r := results[path.From]
		obs = append(obs, canary.Observation{Path: path, Open: i < len(r) && r[i] == '1', Node: nodes[path.From]})
	}
	result, message := canary.Verdict(obs, enforcedObjects(p))
	if timedOut && !done {
		result, message = segv1.CanaryInconclusive, fmt.Sprintf("the canary's client pods did not finish within %s", canaryRoundTimeout)
	}
	// Whole seconds: what the API server keeps, so the status compares equal.
	round := segv1.CanaryRound{Time: metav1.NewTime(s.started.Truncate(time.Second)), Result: result}
	for _, o := range obs {
		round.Paths = append(round.Paths, segv1.CanaryPath{From: o.From, To: o.To, Protocol: o.Protocol, Port: o.Port,
			Allowed: o.Allowed, Open: o.Open, Node: o.Node})
	}
	for _, pod := range clients {
		if err := c.deletePod(ctx, pod); err != nil {
			return err
		}
	}
	c.mu.Lock()
	s.rounds = append([]segv1.CanaryRound{round}, s.rounds...)
	if len(s.rounds) > maxCanaryRounds {
		s.rounds = s.rounds[:maxCanaryRounds]
	}
	if result == segv1.CanaryEnforced {
		s.lastVerified = &round.Time
	}
	s.message, s.stale, s.pending = message, false, ""
	s.started, s.paths = time.Time{}, nil
	s.next = time.Now().Add(canaryInterval(p))
	c.mu.Unlock()
	metrics.CanaryRounds.WithLabelValues(p.Name, result).Inc()
	if result == segv1.CanaryEnforced {
		metrics.CanaryLastVerified.WithLabelValues(p.Name).Set(float64(round.Time.Unix()))
	}
	c.notify(p.Name)
	return nil
}

func (c *CanaryRunner) deletePod(ctx context.Context, pod *corev1.Pod) error {
	if err := c.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete canary pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// canaryInterval is spec.canary.interval, defaulted to 10m.
func canaryInterval(p *segv1.SegmentationProfile) time.Duration {
	if p.Spec.Canary == nil || p.Spec.Canary.Interval.Duration <= 0 {
		return 10 * time.Minute
	}
	return p.Spec.Canary.Interval.Duration
}

// enforcedObjects names what the canary tests, for its messages.
func enforcedObjects(p *segv1.SegmentationProfile) string {
	switch render.Enforcement(p) {
	case segv1.EnforcementClusterNetworkPolicy:
		return "ClusterNetworkPolicies"
	case segv1.EnforcementBoth:
		return "NetworkPolicies or ClusterNetworkPolicies"
	default:
		return "NetworkPolicies"
	}
}

// canaryPod is a probe pod: the manager's image, no ServiceAccount token,
// the restricted Pod Security level, 10m CPU and 16Mi memory. Ports below
// 1024 (a flow's port) open through the safe sysctl
// net.ipv4.ip_unprivileged_port_start, not a capability.
func canaryPod(ns, name, image, role string, args []string, restart corev1.RestartPolicy) *corev1.Pod {
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			render.ManagedByLabel: render.ManagedByValue, canaryRoleLabel: role,
		}},
		Spec: corev1.PodSpec{
			// Spread over nodes: on a multi-node cluster the clients of a
			// round (and the servers) prefer distinct nodes, so a round
			// samples several nodes' enforcement; each result names its node.
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 100,
					PodAffinityTerm: corev1.PodAffinityTerm{
						TopologyKey:       corev1.LabelHostname,
						NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: render.CanaryLabel, Operator: metav1.LabelSelectorOpExists}}},
						LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{canaryRoleLabel: role}},
					},
				}},
			}},
			RestartPolicy:                 restart,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
			},
			Containers: []corev1.Container{{
				Name: "probe", Image: image, Command: []string{"/manager"}, Args: args,
				ImagePullPolicy:          corev1.PullIfNotPresent,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				Resources:                corev1.ResourceRequirements{Requests: small, Limits: small},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

func joinPorts(ports []int32) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// setCanary writes the canary's result into status: status.canary and the
// condition EnforcementVerified, both absent while the canary is off.
func setCanary(st *segv1.SegmentationProfileStatus, r *canaryResult, gen int64) {
	if r == nil {
		st.Canary = nil
		meta.RemoveStatusCondition(&st.Conditions, segv1.ConditionEnforcementVerified)
		return
	}
	st.Canary = r.status
	cond := metav1.Condition{Type: segv1.ConditionEnforcementVerified, Status: metav1.ConditionUnknown,
		Reason: segv1.ReasonCanaryPending, Message: r.pending, ObservedGeneration: gen}
	if r.status != nil && len(r.status.Rounds) > 0 {
		cond.Message = r.message
		switch r.status.Rounds[0].Result {
		case segv1.CanaryEnforced:
			cond.Status, cond.Reason = metav1.ConditionTrue, segv1.ReasonEnforced
		case segv1.CanaryNotEnforced:
			cond.Status, cond.Reason = metav1.ConditionFalse, segv1.ReasonNotEnforced
		default:
			cond.Reason = segv1.ReasonInconclusive
		}
		if r.stale {
			cond.Status, cond.Reason = metav1.ConditionUnknown, segv1.ReasonInconclusive
			why := r.pending
			if why == "" {
				why = "rounds stopped finishing"
			}
			cond.Message = fmt.Sprintf("no canary round has finished since %s: %s", r.status.Rounds[0].Time.UTC().Format(time.RFC3339), why)
		}
	}
	if cond.Message == "" {
		cond.Message = "setting up the canary"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}
