package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tierguard/tierguard/internal/render"
)

// documents splits a YAML stream (JSON is YAML too) into JSON documents,
// dropping empty ones, such as a leading "---" or a comment-only document.
func documents(r io.Reader) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out [][]byte
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i, err)
		}
		// Strict: a duplicate key is refused rather than silently resolved
		// to one of its values.
		data, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
			continue
		}
		out = append(out, data)
	}
}

// ReadProfileObject reads the one object of a profile file, as the API
// server would decode it: numbers that are integers become int64, which the
// schema's integer and int-or-string checks depend on.
func ReadProfileObject(r io.Reader) (map[string]any, error) {
	docs, err := documents(r)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("expected exactly one SegmentationProfile, found %d documents", len(docs))
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(docs[0], &obj); err != nil {
		return nil, fmt.Errorf("the profile is not an object: %w", err)
	}
	return obj, nil
}

// ReadNamespaces reads namespaces as `kubectl get namespaces -o yaml` (or
// -o json) prints them, a List, or as a stream of Namespace documents. The
// result is sorted by name; a name given twice is an error, since which copy
// to believe would be a guess.
func ReadNamespaces(r io.Reader) ([]render.Namespace, error) {
	docs, err := documents(r)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []render.Namespace
	add := func(raw []byte, where string) error {
		n, err := decodeNamespace(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if seen[n.Name] {
			return fmt.Errorf("%s: namespace %q is listed twice", where, n.Name)
		}
		seen[n.Name] = true
		out = append(out, n)
		return nil
	}
	if err := eachObject(docs, "NamespaceList", add); err != nil {
		return nil, err
	}
	sortNamespaces(out)
	return out, nil
}

// decodeNamespace accepts only v1 Namespaces: any other object in the file
// means the wrong file was given.
func decodeNamespace(raw []byte) (render.Namespace, error) {
	var ns corev1.Namespace
	if err := json.Unmarshal(raw, &ns); err != nil {
		return render.Namespace{}, err
	}
	if ns.Kind != "Namespace" || (ns.APIVersion != "v1" && ns.APIVersion != "") {
		return render.Namespace{}, fmt.Errorf("expected a v1 Namespace, got %s %s", ns.APIVersion, ns.Kind)
	}
	if ns.Name == "" {
		return render.Namespace{}, errors.New("a Namespace without metadata.name")
	}
	return namespaceOf(&ns), nil
}

// namespaceOf keeps what the plan needs. A namespace is terminating once it
// has a deletionTimestamp; the phase is checked too because a hand-written
// fixture may set only that.
// The API server sets kubernetes.io/metadata.name on every namespace; a
// hand-written file may omit it, and selectors on it must still match.
func namespaceOf(ns *corev1.Namespace) render.Namespace {
	labels := maps.Clone(ns.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[corev1.LabelMetadataName] = ns.Name
	return render.Namespace{
		Name:        ns.Name,
		Labels:      labels,
		Terminating: ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating,
	}
}

func sortNamespaces(nss []render.Namespace) {
	slices.SortFunc(nss, func(a, b render.Namespace) int { return strings.Compare(a.Name, b.Name) })
}

// eachObject calls add for every object of a decoded YAML stream, unwrapping
// Lists (List or listKind) so that both what `kubectl get -o yaml` prints and
// a stream of single objects are accepted.
func eachObject(docs [][]byte, listKind string, add func(raw []byte, where string) error) error {
	for i, doc := range docs {
		var head struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("document %d: %w", i+1, err)
		}
		if head.Kind != "List" && head.Kind != listKind {
			if err := add(doc, fmt.Sprintf("document %d", i+1)); err != nil {
				return err
			}
			continue
		}
		for j, item := range head.Items {
			if err := add(item, fmt.Sprintf("document %d, item %d", i+1, j)); err != nil {
				return err
			}
		}
	}
	return nil
}
