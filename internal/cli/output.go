package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// Objects returns what a plan makes of the cluster, as the controller
// writes it: for each governed namespace, in name order, the Namespace with
// its resulting labels (its current ones merged with those Tierguard owns)
// followed by its NetworkPolicy when the profile's enforcement writes
// NetworkPolicies; then, when it writes ClusterNetworkPolicies, those, by
// name. Namespaces left alone contribute nothing. It fails when the
// profile cannot be enforced by ClusterNetworkPolicies (a flow on a named
// port).
func Objects(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace) ([]runtime.Object, error) {
	current := make(map[string]map[string]string, len(namespaces))
	for _, n := range namespaces {
		current[n.Name] = n.Labels
	}
	out := make([]runtime.Object, 0, 2*len(plan.Governed))
	for _, g := range plan.Governed {
		out = append(out, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name, Labels: render.MergedLabels(current[g.Name], g.Labels)},
		})
		if render.UsesNetworkPolicies(profile) {
			out = append(out, g.Policy)
		}
	}
	if !render.UsesClusterNetworkPolicies(profile) {
		return out, nil
	}
	cnps, err := render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
	if err != nil {
		return nil, err
	}
	for i := range cnps {
		out = append(out, &cnps[i])
	}
	return out, nil
}

// WriteYAML prints objects as a YAML stream, each document introduced by
// "---", which kubectl apply -f accepts.
func WriteYAML(w io.Writer, objects []runtime.Object) error {
	for _, obj := range objects {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", describe(obj), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints objects as a v1 List, the shape kubectl get -o json
// uses for several objects.
func WriteJSON(w io.Writer, objects []runtime.Object) error {
	list := struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Items      []runtime.Object  `json:"items"`
	}{APIVersion: "v1", Kind: "List", Metadata: map[string]string{"resourceVersion": ""}, Items: objects}
	if list.Items == nil {
		list.Items = []runtime.Object{} // "items": [] rather than null
	}
	data, err := json.MarshalIndent(list, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding the list: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// Warnings describes, one line each, the conflicts of a plan and the
// namespaces it leaves alone, in the plan's order: profile-wide conflicts
// first, then by namespace.
func Warnings(plan *render.Plan) []string {
	var out []string
	for _, c := range plan.Conflicts {
		if c.Namespace == "" {
			out = append(out, fmt.Sprintf("conflict %s: %s", c.Reason, c.Message))
			continue
		}
		out = append(out, fmt.Sprintf("namespace %s: conflict %s: %s", c.Namespace, c.Reason, c.Message))
	}
	for _, s := range plan.Skipped {
		// A conflict's skip repeats the conflict line above.
		if strings.HasPrefix(s.Reason, render.SkipConflict) {
			continue
		}
		out = append(out, fmt.Sprintf("namespace %s skipped: %s", s.Namespace, s.Reason))
	}
	return out
}

// WriteWarnings prints Warnings the way kubectl prints the API server's
// warnings.
func WriteWarnings(w io.Writer, plan *render.Plan) error {
	for _, line := range Warnings(plan) {
		if _, err := fmt.Fprintf(w, "Warning: %s\n", line); err != nil {
			return err
		}
	}
	return nil
}

func describe(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return fmt.Sprintf("%s %s/%s", obj.GetObjectKind().GroupVersionKind().Kind, m.GetNamespace(), m.GetName())
	}
	return fmt.Sprintf("%T", obj)
}
