package drift

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Manager names the field manager, other than self, that made a confirmed
// finding: of the live object's managedFields entries written since self's
// last write, the latest that owns a field the finding concerns. For a
// namespace those are the planned labels that now carry another value (a
// removed label has no owner left to name); for a policy, its spec, labels,
// annotations and owner references. A change that only removed fields
// leaves no entry of its author, so it stays unknown ("") rather than
// blamed on a bystander.
func Manager(f Finding, self string, entries []metav1.ManagedFieldsEntry, planned, liveLabels map[string]string) string {
	if f.Kind == segv1.KindNamespace {
		return lastManager(self, entries, labelPaths(changedLabels(liveLabels, planned)))
	}
	return lastManager(self, entries, policyPaths)
}

// changedLabels returns the planned labels present with another value.
func changedLabels(current, planned map[string]string) []string {
	var out []string
	for k, v := range planned {
		if cur, ok := current[k]; ok && cur != v {
			out = append(out, k)
		}
	}
	return out
}

// LabelWriter names the field manager, other than self, that most recently
// wrote one of the given labels of an object, or "": who moved a namespace
// into or out of a tier by its selector labels.
func LabelWriter(self string, entries []metav1.ManagedFieldsEntry, keys []string) string {
	return latest(self, entries, labelPaths(keys), metav1.Time{})
}

// lastManager returns the latest writer, other than self, owning one of
// the paths, among entries no older than self's last write to the main
// resource.
func lastManager(self string, entries []metav1.ManagedFieldsEntry, paths [][]string) string {
	var since metav1.Time
	for _, e := range entries {
		if e.Manager == self && e.Time != nil && e.Subresource == "" {
			since = *e.Time
		}
	}
	return latest(self, entries, paths, since)
}

// latest returns the writer, other than self, of the newest entry since
// the given time that owns one of the paths.
func latest(self string, entries []metav1.ManagedFieldsEntry, paths [][]string, since metav1.Time) string {
	var (
		name string
		at   metav1.Time
	)
	for _, e := range entries {
		// Entries of subresources count: kube-apiserver keeps label changes
		// sent through namespaces/status and namespaces/finalize.
		if e.Manager == self || e.Time == nil || e.Time.Before(&since) || !ownsAny(e, paths) {
			continue
		}
		if name == "" || !e.Time.Before(&at) {
			name, at = e.Manager, *e.Time
		}
	}
	return name
}

// ownsAny reports whether a managedFields entry owns a field under any of
// the paths (FieldsV1 keys such as "f:metadata", "f:labels", "f:env").
func ownsAny(e metav1.ManagedFieldsEntry, paths [][]string) bool {
	if e.FieldsV1 == nil || len(paths) == 0 {
		return false
	}
	var set map[string]any
	if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &set); err != nil {
		return false
	}
	for _, path := range paths {
		node, ok := any(set), true
		for _, key := range path {
			m, isMap := node.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if node, ok = m[key]; !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// labelPaths are the FieldsV1 paths of the given labels.
func labelPaths(keys []string) [][]string {
	out := make([][]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, []string{"f:metadata", "f:labels", "f:" + k})
	}
	return out
}

// policyPaths are the fields of a policy whose change is drift.
var policyPaths = [][]string{{"f:spec"}, {"f:metadata", "f:labels"}, {"f:metadata", "f:annotations"}, {"f:metadata", "f:ownerReferences"}}
