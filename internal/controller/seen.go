package controller

import (
	"sync"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/tierguard/tierguard/internal/render"
)

// seenPolicies are, per profile, the namespaces where this process has seen
// or written the profile's policy. A policy missing from one of them was
// deleted (drift); one missing elsewhere may never have been created, as
// when a previous manager was killed between a namespace's labels and its
// policy. The memory is lost on restart, so a deletion made while no
// manager ran is repaired as a first apply, not reported as drift.
type seenPolicies struct {
	mu sync.Mutex
	ns map[string]bool
}

func (r *ProfileReconciler) seenSet(profile string) *seenPolicies {
	v, _ := r.seen.LoadOrStore(profile, &seenPolicies{ns: map[string]bool{}})
	return v.(*seenPolicies)
}

// markSeen records that the profile's policy exists in a namespace, or,
// with present false, that it was deleted.
func (r *ProfileReconciler) markSeen(profile, namespace string, present bool) {
	s := r.seenSet(profile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if present {
		s.ns[namespace] = true
	} else {
		delete(s.ns, namespace)
	}
}

// seenWith adds the profile's cached policies to its memory and returns a
// copy of it.
func (r *ProfileReconciler) seenWith(profile string, policies map[string]*networkingv1.NetworkPolicy) map[string]bool {
	s := r.seenSet(profile)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns, p := range policies {
		if p.Labels[render.ProfileLabel] == profile {
			s.ns[ns] = true
		}
	}
	out := make(map[string]bool, len(s.ns))
	for ns := range s.ns {
		out[ns] = true
	}
	return out
}
