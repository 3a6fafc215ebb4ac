// Package rbac_test checks Tierguard's RBAC for least privilege: no rule in
// config/rbac (nor in what config/default installs) uses a wildcard verb,
// resource, API group or non-resource URL, touches secrets, or grants
// privilege escalation (escalate, bind, impersonate, RBAC objects) or uses a
// verb other than the API server's and assign; the write role for profiles
// is not aggregated into admin or edit; the verb assign, which lets a
// namespace change tiers, is granted only by the namespace-assigner
// ClusterRole (and the manager's role), aggregated nowhere; every binding
// refers to a role Tierguard defines.
package rbac_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	runtimeutil "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// repo is the repository root, relative to this package (go test runs in
// the package's directory).
var repo = filepath.Join("..", "..")

// role is a Role or ClusterRole with where it came from.
type role struct {
	source string
	kind   string
	name   string
	labels map[string]string
	rules  []rbacv1.PolicyRule
}

// binding is a RoleBinding or ClusterRoleBinding.
type binding struct {
	source  string
	kind    string
	name    string
	roleRef rbacv1.RoleRef
}

// forbiddenVerbs let a subject gain permissions it does not have.
var forbiddenVerbs = map[string]bool{"escalate": true, "bind": true, "impersonate": true}

// knownVerbs are the verbs Tierguard's roles may use: the API server's
// resource verbs, and assign, the custom verb the admission policies check
// (authorizer ... check('assign')) before a namespace may change tiers.
// Anything else is most likely a typo that grants nothing.
var knownVerbs = map[string]bool{
	"get": true, "list": true, "watch": true, "create": true, "update": true, "patch": true,
	"delete": true, "deletecollection": true, "assign": true,
}

// assignerRole is the ClusterRole that grants assign (before namePrefix).
const assignerRole = "namespace-assigner"

// checkRules returns every least-privilege violation of a role's rules.
func checkRules(r role) []string {
	var out []string
	where := fmt.Sprintf("%s: %s %s", r.source, r.kind, r.name)
	for i, rule := range r.rules {
		at := fmt.Sprintf("%s rule %d", where, i)
		for _, v := range rule.Verbs {
			if v == rbacv1.VerbAll || strings.Contains(v, "*") {
				out = append(out, at+": wildcard verb")
			}
			if forbiddenVerbs[v] {
				out = append(out, fmt.Sprintf("%s: privilege-escalation verb %q", at, v))
			} else if !knownVerbs[v] && v != rbacv1.VerbAll && !strings.Contains(v, "*") {
				out = append(out, fmt.Sprintf("%s: unknown verb %q", at, v))
			}
		}
		for _, g := range rule.APIGroups {
			if g == rbacv1.APIGroupAll || strings.Contains(g, "*") {
				out = append(out, at+": wildcard apiGroup")
			}
			if g == rbacv1.GroupName {
				out = append(out, at+": access to RBAC objects ("+rbacv1.GroupName+")")
			}
		}
		for _, res := range rule.Resources {
			if res == rbacv1.ResourceAll || strings.Contains(res, "*") {
				out = append(out, fmt.Sprintf("%s: wildcard resource %q", at, res))
			}
			if res == "secrets" || strings.HasPrefix(res, "secrets/") {
				out = append(out, fmt.Sprintf("%s: access to %s", at, res))
			}
		}
		for _, u := range rule.NonResourceURLs {
			if strings.Contains(u, "*") {
				out = append(out, fmt.Sprintf("%s: wildcard non-resource URL %q", at, u))
			}
		}
	}
	for _, key := range []string{"rbac.authorization.k8s.io/aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-edit"} {
		if r.labels[key] == "true" && grantsWrite(r.rules) {
			out = append(out, fmt.Sprintf("%s: write access aggregated into %s", where, key))
		}
	}
	if grantsAssign(r.rules) {
		for key := range r.labels {
			if strings.HasPrefix(key, "rbac.authorization.k8s.io/aggregate-to-") {
				out = append(out, fmt.Sprintf("%s: the verb assign aggregated by %s", where, key))
			}
		}
	}
	return out
}

// grantsAssign reports whether rules grant the verb assign on profiles.
func grantsAssign(rules []rbacv1.PolicyRule) bool {
	for _, rule := range rules {
		if slices.Contains(rule.Verbs, "assign") && slices.Contains(rule.Resources, "segmentationprofiles") {
			return true
		}
	}
	return false
}

// checkAssigner fails unless roles hold the namespace-assigner ClusterRole
// (named name) granting assign on segmentationprofiles to every profile
// (no resourceNames), and unless it is the only role that grants assign
// besides the manager's own role.
func checkAssigner(roles []role, name, managerRole string) []string {
	var out []string
	found := false
	for _, r := range roles {
		switch {
		case r.kind == "ClusterRole" && r.name == name:
			found = true
			ok := false
			for _, rule := range r.rules {
				if slices.Contains(rule.Verbs, "assign") && slices.Contains(rule.Resources, "segmentationprofiles") && len(rule.ResourceNames) == 0 {
					ok = true
				}
			}
			if !ok {
				out = append(out, fmt.Sprintf("%s: ClusterRole %s does not grant assign on every segmentationprofile", r.source, name))
			}
		case r.name != managerRole && grantsAssign(r.rules):
			out = append(out, fmt.Sprintf("%s: %s %s grants assign; only %s should", r.source, r.kind, r.name, name))
		}
	}
	if !found {
		out = append(out, "no ClusterRole "+name)
	}
	return out
}

func grantsWrite(rules []rbacv1.PolicyRule) bool {
	for _, rule := range rules {
		for _, v := range rule.Verbs {
			switch v {
			case "get", "list", "watch":
			default:
				return true
			}
		}
	}
	return false
}

// collect sorts objects into roles and bindings.
func collect(source string, objs []*unstructured.Unstructured) (roles []role, bindings []binding, err error) {
	for _, u := range objs {
		src := source
		switch u.GetKind() {
		case "Role", "ClusterRole":
			var rules []rbacv1.PolicyRule
			if u.GetKind() == "Role" {
				r := &rbacv1.Role{}
				if err := runtimeutil.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", src, err)
				}
				rules = r.Rules
			} else {
				r := &rbacv1.ClusterRole{}
				if err := runtimeutil.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", src, err)
				}
				if r.AggregationRule != nil {
					return nil, nil, fmt.Errorf("%s: ClusterRole %s aggregates other roles: its rules cannot be checked", src, r.Name)
				}
				rules = r.Rules
			}
			roles = append(roles, role{source: src, kind: u.GetKind(), name: u.GetName(), labels: u.GetLabels(), rules: rules})
		case "RoleBinding", "ClusterRoleBinding":
			b := &rbacv1.RoleBinding{}
			if err := runtimeutil.DefaultUnstructuredConverter.FromUnstructured(u.Object, b); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", src, err)
			}
			bindings = append(bindings, binding{source: src, kind: u.GetKind(), name: u.GetName(), roleRef: b.RoleRef})
		}
	}
	return roles, bindings, nil
}

// checkBindings fails bindings to roles Tierguard does not define (such as
// cluster-admin or edit).
func checkBindings(roles []role, bindings []binding) []string {
	defined := map[string]bool{}
	for _, r := range roles {
		defined[r.kind+"/"+r.name] = true
	}
	var out []string
	for _, b := range bindings {
		if !defined[b.roleRef.Kind+"/"+b.roleRef.Name] {
			out = append(out, fmt.Sprintf("%s: %s %s binds %s %s, which Tierguard does not define",
				b.source, b.kind, b.name, b.roleRef.Kind, b.roleRef.Name))
		}
	}
	return out
}

// readManifests parses every YAML document of a file.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

func TestConfigRBACIsLeastPrivilege(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repo, "config", "rbac", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var roles []role
	var bindings []binding
	for _, f := range files {
		objs, err := readManifests(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, bs, err := collect(filepath.Base(f), objs)
		if err != nil {
			t.Fatal(err)
		}
		roles, bindings = append(roles, rs...), append(bindings, bs...)
	}
	if len(roles) < 6 || len(bindings) < 3 {
		t.Fatalf("found %d roles and %d bindings in %d files of config/rbac; expected the manager, leader election, metrics and profile roles",
			len(roles), len(bindings), len(files))
	}
	var problems []string
	for _, r := range roles {
		problems = append(problems, checkRules(r)...)
	}
	problems = append(problems, checkBindings(roles, bindings)...)
	problems = append(problems, checkAssigner(roles, assignerRole, "manager-role")...)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d files, %d roles (%d rules), %d bindings checked", len(files), len(roles), countRules(roles), len(bindings))
}

// TestInstalledRBACIsLeastPrivilege checks every role and binding that
// `kustomize build config/default` installs, wherever it is defined.
func TestInstalledRBACIsLeastPrivilege(t *testing.T) {
	dir := filepath.Join(repo, "config", "default")
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	roles, bindings, err := collect("config/default", objs)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, r := range roles {
		problems = append(problems, checkRules(r)...)
	}
	problems = append(problems, checkBindings(roles, bindings)...)
	problems = append(problems, checkAssigner(roles, "tierguard-"+assignerRole, "tierguard-manager-role")...)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d roles (%d rules), %d bindings checked", len(roles), countRules(roles), len(bindings))
}

// TestCheckerCatchesViolations makes sure the checks above can fail.
func TestCheckerCatchesViolations(t *testing.T) {
	bad := role{source: "test", kind: "ClusterRole", name: "bad",
		labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
		rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"*"}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"get"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}},
			{NonResourceURLs: []string{"/metrics*"}, Verbs: []string{"get"}},
			{APIGroups: []string{"segmentation.tierguard.io"}, Resources: []string{"segmentationprofiles"}, Verbs: []string{"asign", "assign"}}, //nolint:misspell // a misspelt verb must be refused
		}}
	got := strings.Join(checkRules(bad), "\n")
	for _, want := range []string{"wildcard apiGroup", "wildcard resource", "wildcard verb", "access to secrets",
		"privilege-escalation verb \"bind\"", "access to RBAC objects", "wildcard non-resource URL", "aggregated into",
		"unknown verb \"asign\"", "the verb assign aggregated by rbac.authorization.k8s.io/aggregate-to-edit"} { //nolint:misspell // the misspelt verb above
		if !strings.Contains(got, want) {
			t.Errorf("checkRules missed %q; reported:\n%s", want, got)
		}
	}
	viewer := role{source: "test", kind: "ClusterRole", name: "viewer",
		labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"},
		rules:  []rbacv1.PolicyRule{{APIGroups: []string{"segmentation.tierguard.io"}, Resources: []string{"segmentationprofiles"}, Verbs: []string{"get", "assign"}}}}
	if got := strings.Join(checkRules(viewer), "\n"); !strings.Contains(got, "aggregated by rbac.authorization.k8s.io/aggregate-to-view") {
		t.Errorf("checkRules missed assign aggregated into view; reported:\n%s", got)
	}
	if got := checkAssigner([]role{viewer}, assignerRole, "manager-role"); len(got) != 2 {
		t.Errorf("checkAssigner should report the missing assigner and the viewer granting assign: %v", got)
	}
	b := checkBindings(nil, []binding{{source: "test", kind: "ClusterRoleBinding", name: "b",
		roleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}}})
	if len(b) != 1 {
		t.Errorf("checkBindings missed a binding to cluster-admin: %v", b)
	}
}

func countRules(roles []role) int {
	n := 0
	for _, r := range roles {
		n += len(r.rules)
	}
	return n
}
