package watchcache

import (
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Echoes remembers the resourceVersion each of Tierguard's own writes
// produced, so the watch event that merely reports that write back does not
// start another pass: the object is, at that version, what the pass wrote.
// Deletions always pass (a deleted object reports its last version, which
// may be Tierguard's), and so does any later change (a new version). The
// zero value is ready to use and safe for concurrent use.
type Echoes struct {
	versions sync.Map // echoKey -> resourceVersion
}

type echoKey struct {
	kind            segv1.ObjectKind
	namespace, name string
}

func keyOf(kind segv1.ObjectKind, obj client.Object) echoKey {
	return echoKey{kind: kind, namespace: obj.GetNamespace(), name: obj.GetName()}
}

// Wrote records the version a write of Tierguard's produced.
func (e *Echoes) Wrote(kind segv1.ObjectKind, namespace, name, resourceVersion string) {
	if resourceVersion == "" {
		return
	}
	e.versions.Store(echoKey{kind: kind, namespace: namespace, name: name}, resourceVersion)
}

// isEcho reports, once, whether obj is at the version Tierguard wrote.
func (e *Echoes) isEcho(kind segv1.ObjectKind, obj client.Object) bool {
	k := keyOf(kind, obj)
	v, ok := e.versions.Load(k)
	if !ok || v.(string) != obj.GetResourceVersion() {
		return false
	}
	e.versions.CompareAndDelete(k, v)
	return true
}

// Predicate drops create and update events of objects of a kind that
// report one of Tierguard's own writes back.
func (e *Echoes) Predicate(kind segv1.ObjectKind) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(ev event.CreateEvent) bool { return !e.isEcho(kind, ev.Object) },
		UpdateFunc: func(ev event.UpdateEvent) bool { return !e.isEcho(kind, ev.ObjectNew) },
		DeleteFunc: func(ev event.DeleteEvent) bool {
			e.versions.Delete(keyOf(kind, ev.Object)) // nothing more to expect of it
			return true
		},
	}
}
