package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/tierguard/tierguard/internal/render"
)

// objectEvent is one change to a watched object, when the test saw it.
type objectEvent struct {
	at  time.Time
	typ watch.EventType
	key string // namespace name, or namespace/name of a policy
	uid types.UID
	rv  string
	// policy is set for NetworkPolicy events.
	policy *networkingv1.NetworkPolicy
	// labels are a Namespace's labels.
	labels map[string]string
}

// recorder records every change of a set of objects through a watch that
// resumes after the API server closes it, so that a test sees each state an
// object went through, not only the states it happens to sample.
type recorder struct {
	lw *cache.ListWatch
	// initial are the resourceVersions of the objects listed at the start,
	// by key.
	initial map[string]string
	mu      sync.Mutex
	events  []objectEvent
	cancel  context.CancelFunc
	done    chan struct{}
}

// watchNamespaces records the namespaces matching labelSelector.
func watchNamespaces(ctx context.Context, labelSelector string) *recorder {
	GinkgoHelper()
	return startRecorder(ctx, cache.NewFilteredListWatchFromClient(clientset.CoreV1().RESTClient(), "namespaces", metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = labelSelector }))
}

// watchPolicies records every NetworkPolicy named like Tierguard's, in every
// namespace, whatever its labels, so a policy stripped of its labels is
// still seen.
func watchPolicies(ctx context.Context) *recorder {
	GinkgoHelper()
	return startRecorder(ctx, cache.NewListWatchFromClient(clientset.NetworkingV1().RESTClient(), "networkpolicies", metav1.NamespaceAll,
		fields.OneTermEqualSelector("metadata.name", render.PolicyName)))
}

// startRecorder lists to learn the current resourceVersion, then records
// the changes after it.
func startRecorder(ctx context.Context, lw *cache.ListWatch) *recorder {
	GinkgoHelper()
	list, err := lw.ListWithContext(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	listMeta, err := apimeta.ListAccessor(list)
	Expect(err).NotTo(HaveOccurred())
	initial, err := versionsByKey(list)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := watchtools.NewRetryWatcherWithContext(ctx, listMeta.GetResourceVersion(), lw)
	Expect(err).NotTo(HaveOccurred())
	r := &recorder{lw: lw, initial: initial, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(r.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				r.record(ev)
			}
		}
	}()
	return r
}

func (r *recorder) record(ev watch.Event) {
	e := objectEvent{at: time.Now(), typ: ev.Type}
	switch obj := ev.Object.(type) {
	case *corev1.Namespace:
		e.key, e.uid, e.rv, e.labels = objectKey(obj), obj.UID, obj.ResourceVersion, obj.Labels
	case *networkingv1.NetworkPolicy:
		e.key, e.uid, e.rv, e.policy = objectKey(obj), obj.UID, obj.ResourceVersion, obj
	default:
		GinkgoWriter.Printf("watch: unexpected %s event: %v\n", ev.Type, ev.Object)
		return
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// stop ends the watch and returns every event recorded.
func (r *recorder) stop() []objectEvent {
	r.cancel()
	<-r.done
	return r.snapshot()
}

// snapshot returns the events recorded so far.
func (r *recorder) snapshot() []objectEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]objectEvent(nil), r.events...)
}

// waitCaughtUp waits until the recorder has seen the current state of every
// object: lists them again, and each listed object's last recorded event
// (or, unchanged since the start, the initial list) must carry its
// resourceVersion, and each object it knew that the list lacks must have
// been recorded deleted. A watch delivers an object's changes in order, so
// then every change up to the list has been recorded.
func (r *recorder) waitCaughtUp(ctx context.Context) {
	GinkgoHelper()
	Eventually(func(ctx context.Context) ([]string, error) {
		list, err := r.lw.ListWithContext(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		current, err := versionsByKey(list)
		if err != nil {
			return nil, err
		}
		seen, deleted := r.lastSeen()
		var behind []string
		for key, rv := range current {
			if seen[key] != rv {
				behind = append(behind, fmt.Sprintf("%s at %s, recorded %q", key, rv, seen[key]))
			}
		}
		for key := range seen {
			if _, ok := current[key]; !ok && !deleted[key] {
				behind = append(behind, key+" deleted, not recorded")
			}
		}
		return behind, nil
	}).WithContext(ctx).WithTimeout(timeout).WithPolling(interval).Should(BeEmpty(), "objects whose latest change the watch has not delivered")
}

// lastSeen returns the resourceVersion the recorder last saw of each
// object (the initial list's unless an event came since), and which of
// them it last saw deleted.
func (r *recorder) lastSeen() (rv map[string]string, deleted map[string]bool) {
	rv, deleted = map[string]string{}, map[string]bool{}
	for key, v := range r.initial {
		rv[key] = v
	}
	for _, e := range r.snapshot() {
		rv[e.key], deleted[e.key] = e.rv, e.typ == watch.Deleted
	}
	return rv, deleted
}

// versionsByKey returns the resourceVersion of each item of list, by key.
func versionsByKey(list runtime.Object) (map[string]string, error) {
	items, err := apimeta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		obj, err := apimeta.Accessor(item)
		if err != nil {
			return nil, err
		}
		out[objectKey(obj)] = obj.GetResourceVersion()
	}
	return out, nil
}

// objectKey is a namespace's name, or namespace/name of a namespaced object.
func objectKey(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
