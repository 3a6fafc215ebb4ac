package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tierguard/tierguard/test/cluster"
	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// Names the demo uses.
const (
	profileName  = "company"
	samplePath   = "config/samples/segmentation_v1alpha1_segmentationprofile.yaml"
	tierLabel    = "segmentation.tierguard.io/tier"
	profileLabel = "segmentation.tierguard.io/profile"
	psaLabel     = "pod-security.kubernetes.io/enforce"
	policyName   = "tierguard-isolation"
	// The namespaces that get tampered with.
	tamperedPolicyNS = "payments-prod"
	tamperedLabelNS  = "team-a-dev"
	// shownPolicyNS is the namespace whose policy is shown in full: the test
	// tier admits dev on 443, so it has every kind of rule.
	shownPolicyNS = "team-a-test"
)

// demoNamespace is a namespace the demo creates, and why the sample profile
// treats it as it does.
type demoNamespace struct {
	name, env, role string
}

// namespaces are chosen so that the sample profile
// (config/samples/segmentation_v1alpha1_segmentationprofile.yaml) shows each
// of its rules.
var namespaces = []demoNamespace{
	{"team-a-dev", "dev", "tier dev (selector env=dev)"},
	{"sandbox", "", "tier dev (listed by name)"},
	{"team-a-test", "test", "tier test (selector env=test)"},
	{"team-b-test", "test", "tier test (selector env=test)"},
	{"payments-prod", "prod", "tier prod (isolation: Namespace)"},
	{"billing-prod", "prod", "tier prod (isolation: Namespace)"},
	{"ingress-nginx", "", "shared: reaches every tier, gets no policy"},
	{"monitoring", "", "shared: reaches every tier, gets no policy"},
	{"legacy", "dev", "matches dev but is in excludedNamespaces"},
	{"marketing-site", "", "unrelated: no tier"},
}

// demo is one run of the demo.
type demo struct {
	out        *printer
	dir        string // work dir as given, for short paths in output
	absDir     string
	managerBin string
	began      time.Time
	// realNode runs the demo on the real-node bed (test/cluster), with
	// probe pods and measured traffic, instead of a control plane alone.
	realNode bool

	cp      *controlplane.ControlPlane
	kubectl harness.Kubectl // admin, echoing
	manager *harness.Manager
	// node and podIPs (probe pods by namespace) exist in real-node mode.
	node   *cluster.Cluster
	podIPs map[string]string
}

// run performs every step of the demo.
func (d *demo) run(ctx context.Context) error {
	for _, step := range d.steps() {
		if err := step(ctx); err != nil {
			if d.manager != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "\n%s", d.manager.LogTail(40))
			}
			return err
		}
	}
	return nil
}

// steps are the demo's steps. On a real node the probe pods start before
// Tierguard exists, and traffic is measured once the profile is Ready; the
// later steps measure too (measureOnNode does nothing without a node).
func (d *demo) steps() []func(context.Context) error {
	if !d.realNode {
		return []func(context.Context) error{
			d.startControlPlane,
			d.install,
			d.createNamespaces,
			d.startManager,
			d.applyProfile,
			d.showState,
			d.tenant,
			d.tamper,
			d.showRepair,
			d.clusterNetworkPolicies,
		}
	}
	return []func(context.Context) error{
		d.startCluster,
		d.install,
		d.createNamespaces,
		d.startProbes,
		d.startManager,
		d.applyProfile,
		d.realTraffic,
		d.showState,
		d.tenant,
		d.tamper,
		d.showRepair,
		d.clusterNetworkPolicies,
	}
}

func (d *demo) startControlPlane(ctx context.Context) error {
	d.out.heading("Starting a local control plane: etcd, kube-apiserver (RBAC on), kube-controller-manager, on 127.0.0.1")
	began := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{WorkDir: d.absDir, Logf: d.out.logf})
	if err != nil {
		return err
	}
	if err := d.usePlane(cp); err != nil {
		return err
	}
	d.out.note("Ready in %s. Every command below runs with KUBECONFIG=%s (an admin).", time.Since(began).Round(100*time.Millisecond), d.rel(cp.KubeconfigPath))
	return nil
}

// usePlane makes cp the demo's control plane, recorded in the state file
// for -stop and other shells.
func (d *demo) usePlane(cp *controlplane.ControlPlane) error {
	d.cp = cp
	if err := cp.WriteStateFile(filepath.Join(d.absDir, stateFileName)); err != nil {
		return err
	}
	d.kubectl = cp.Kubectl()
	d.kubectl.Echo = os.Stdout
	return nil
}

func (d *demo) install(ctx context.Context) error {
	d.out.heading("Installing the CRD, the manager's least-privilege RBAC and the admission policies from config/")
	if err := harness.InstallCRD(ctx, d.kubectl, "config"); err != nil {
		return err
	}
	overlay := filepath.Join(d.dir, "rbac")
	d.out.note("%s is a kustomize overlay of config/rbac's %s,\nwith config/default's namespace (%s) and name prefix (tierguard-):",
		overlay, strings.Join(harness.RBACFiles, ", "), harness.SystemNamespace)
	if err := harness.InstallRBAC(ctx, d.kubectl, "config", overlay); err != nil {
		return err
	}
	d.out.note("\nThe admission policies of config/admission-policy, which make tier membership a matter of RBAC\n(the verb assign on a profile), with config/default's name prefix:")
	return harness.InstallAdmissionPolicy(ctx, d.kubectl, "config", filepath.Join(d.dir, "admission-policy"))
}

// tenantUser may create and label namespaces, as a self-service tenant
// can, and nothing else.
const tenantUser = "alice@team-c"

// tenant shows what a tenant who may label namespaces can and cannot do:
// dev is SelfService in the sample, prod is not.
func (d *demo) tenant(ctx context.Context) error {
	d.out.heading("A tenant who may create and label namespaces, but not assign")
	if _, err := d.kubectl.Quiet().Run(ctx, "create", "clusterrole", "namespace-self-service",
		"--verb=get,list,create,patch,update", "--resource=namespaces"); err != nil {
		return err
	}
	if _, err := d.kubectl.Quiet().Run(ctx, "create", "clusterrolebinding", "alice-self-service",
		"--clusterrole=namespace-self-service", "--user="+tenantUser); err != nil {
		return err
	}
	if err := harness.WaitCanI(ctx, d.kubectl, tenantUser, "patch", "namespaces", ""); err != nil {
		return err
	}
	d.out.note("dev is SelfService: the tenant creates a namespace in it.")
	if _, err := d.kubectl.Run(ctx, "create", "namespace", "team-c-dev", "--as="+tenantUser); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "label", "namespace", "team-c-dev", "env=dev", "--as="+tenantUser); err != nil {
		return err
	}
	d.out.note("\nprod is Restricted: moving it there is refused by the API server, whoever labels it.")
	if out, err := d.kubectl.Run(ctx, "label", "namespace", "team-c-dev", "env=prod", "--overwrite", "--as="+tenantUser); err == nil {
		return fmt.Errorf("the tenant moved a namespace into prod: %s", out)
	}
	d.out.note("\nNor may the tenant forge the tier label Tierguard writes:")
	if out, err := d.kubectl.Run(ctx, "label", "namespace", "marketing-site", tierLabel+"=prod", "--as="+tenantUser); err == nil {
		return fmt.Errorf("the tenant forged a tier label: %s", out)
	}
	if err := d.waitTier(ctx, "team-c-dev", "dev"); err != nil {
		return err
	}
	d.out.note("\nTierguard enforced the new dev namespace and recorded the change in status.membership:")
	_, err := d.kubectl.Run(ctx, "get", "segmentationprofile", profileName, "-o",
		`jsonpath={range .status.membership.recent[*]}{.time}  {.namespace}  {.action}  from={.from} to={.to}  manager={.manager}{"\n"}{end}`)
	return err
}

// waitTier polls a namespace's tier label until it is tier.
func (d *demo) waitTier(ctx context.Context, ns, tier string) error {
	return harness.WaitFor(ctx, fmt.Sprintf("namespace %s to join tier %s", ns, tier), time.Minute, d.manager.Process, func(ctx context.Context) error {
		out, err := d.kubectl.Quiet().Run(ctx, "get", "namespace", ns, "-o", "jsonpath={.metadata.labels."+strings.ReplaceAll(tierLabel, ".", `\.`)+"}")
		if err == nil && strings.TrimSpace(out) != tier {
			err = fmt.Errorf("tier %q", out)
		}
		return err
	})
}

func (d *demo) createNamespaces(ctx context.Context) error {
	d.out.heading("Creating namespaces for the sample profile to find")
	var manifest strings.Builder
	for _, ns := range namespaces {
		env := "-"
		fmt.Fprintf(&manifest, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns.name)
		if ns.env != "" {
			env = "env=" + ns.env
			fmt.Fprintf(&manifest, "  labels:\n    env: %s\n", ns.env)
		}
		manifest.WriteString("---\n")
		d.out.note("%-15s %-9s %s", ns.name, env, ns.role)
	}
	path := filepath.Join(d.dir, "namespaces.yaml")
	if err := os.WriteFile(path, []byte(manifest.String()), 0o644); err != nil {
		return fmt.Errorf("write namespaces: %w", err)
	}
	_, err := d.kubectl.Run(ctx, "apply", "-f", path)
	return err
}

func (d *demo) startManager(ctx context.Context) error {
	d.out.heading("Starting the manager as its own ServiceAccount (not admin)")
	_, kubeconfig, err := d.cp.ServiceAccountConfig(ctx, harness.SystemNamespace, harness.ServiceAccountName)
	if err != nil {
		return err
	}
	sa := d.kubectl.WithKubeconfig(kubeconfig)
	d.out.note("A token for ServiceAccount %s/%s, from the TokenRequest API, in %s:", harness.SystemNamespace, harness.ServiceAccountName, d.rel(kubeconfig))
	if _, err := sa.Run(ctx, "auth", "whoami"); err != nil {
		return err
	}
	// can-i exits with 1 for "no", which is the answer to show here.
	out, _ := sa.Run(ctx, "auth", "can-i", "list", "secrets", "--all-namespaces")
	if strings.TrimSpace(out) != "no" {
		return fmt.Errorf("the manager's ServiceAccount may list secrets: RBAC is not least-privilege")
	}

	opts := harness.ManagerOptions{
		Binary: d.managerBin, Kubeconfig: kubeconfig, Name: "manager",
		LogDir: filepath.Join(d.absDir, "logs"), LeaderElect: true,
	}
	if d.node != nil {
		d.out.note("\nOn the real node too, the manager runs as a process beside the cluster, not as a pod, so the demo reads\nits log and metrics directly (`make test-cluster` deploys its image with `make deploy`). It reaches the API\nserver as a pod would, with the same ServiceAccount's token.")
		// Recorded like the bed's processes, so a crashed demo's manager is
		// stopped by the next run of a host bed.
		opts.OnStart, opts.OnExit = hostbed.RecordPID(d.managerBin), hostbed.UnregisterPID
	}
	m, err := harness.StartManager(opts)
	if err != nil {
		return err
	}
	d.manager = m
	d.out.note("$ KUBECONFIG=%s POD_NAMESPACE=%s %s --leader-elect --metrics-bind-address=%s --metrics-secure=false ...",
		d.rel(kubeconfig), harness.SystemNamespace, d.managerBin, strings.TrimSuffix(strings.TrimPrefix(m.MetricsURL, "http://"), "/metrics"))
	if err := m.WaitServing(ctx, time.Minute); err != nil {
		return err
	}
	d.out.note("Manager running: pid %d, log %s", m.PID(), d.rel(m.LogPath))
	return nil
}

func (d *demo) applyProfile(ctx context.Context) error {
	d.out.heading("Applying the sample SegmentationProfile and waiting for Ready")
	if _, err := d.kubectl.Run(ctx, "apply", "-f", samplePath); err != nil {
		return err
	}
	began := time.Now()
	if _, err := d.kubectl.Wait(ctx, 2*time.Minute, "--for=condition=Ready", "segmentationprofile/"+profileName); err != nil {
		return err
	}
	d.out.note("Enforced %s after the apply.", time.Since(began).Round(100*time.Millisecond))
	return nil
}

func (d *demo) showState(ctx context.Context) error {
	d.out.heading("What a user sees")
	d.out.note("The profile, with its printer columns:")
	if _, err := d.kubectl.Run(ctx, "get", "segmentationprofiles"); err != nil {
		return err
	}
	d.out.note("\nThe namespaces and the labels Tierguard owns (shared, excluded and unrelated ones stay unlabelled):")
	if _, err := d.kubectl.Run(ctx, "get", "namespaces", "-L", strings.Join([]string{tierLabel, profileLabel, psaLabel}, ",")); err != nil {
		return err
	}
	d.out.note("\nOne NetworkPolicy per governed namespace:")
	if _, err := d.kubectl.Run(ctx, "get", "networkpolicies", "--all-namespaces"); err != nil {
		return err
	}
	d.out.note("\nThe test tier's policy in full: same tier, the shared namespaces, and dev on TCP 443:")
	_, err := d.kubectl.Run(ctx, "get", "networkpolicy", policyName, "-n", shownPolicyNS, "-o", "yaml")
	return err
}

func (d *demo) tamper(ctx context.Context) error {
	d.out.heading("Tampering: an allow-all ingress rule, and a stripped tier label")
	d.out.note("kubectl records who wrote what in managedFields (kubectl patch as the field manager kubectl-patch);\nTierguard reads it to report who changed its objects.")
	if _, err := d.kubectl.Run(ctx, "patch", "networkpolicy", policyName, "-n", tamperedPolicyNS,
		"--type=json", `-p=[{"op":"add","path":"/spec/ingress/-","value":{}}]`); err != nil {
		return err
	}
	_, err := d.kubectl.Run(ctx, "label", "namespace", tamperedLabelNS, tierLabel+"-")
	return err
}

func (d *demo) showRepair(ctx context.Context) error {
	d.out.heading("Tierguard repairs the drift and records it")
	began := time.Now()
	if err := d.waitRepairs(ctx, 2); err != nil {
		return err
	}
	d.out.note("Both repaired within %s. The policy has its planned rules again, the label is back:", time.Since(began).Round(100*time.Millisecond))
	if _, err := d.kubectl.Run(ctx, "get", "networkpolicy", policyName, "-n", tamperedPolicyNS,
		"-o", `jsonpath={range .spec.ingress[*]}{.from}{"\n"}{end}`); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "get", "namespace", tamperedLabelNS, "-L", tierLabel); err != nil {
		return err
	}
	if err := d.measureOnNode(ctx, "\nAnd on the node, dev is refused by the repaired policy again:",
		connection{tamperedLabelNS, tamperedPolicyNS, closedPort, false, "dev cannot reach prod"}); err != nil {
		return err
	}
	d.out.note("\nstatus.drift: what changed, when, and by which field manager (a removed label leaves no\nmanagedFields entry of its remover, so that manager stays unknown):")
	if _, err := d.kubectl.Run(ctx, "get", "segmentationprofile", profileName, "-o",
		`jsonpath=repairs: {.status.drift.repairs}{"\n"}{range .status.drift.recent[*]}{.time}  {.kind}  {.namespace}/{.name}  {.change}  manager={.manager}{"\n"}{end}`); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "get", "segmentationprofiles"); err != nil {
		return err
	}
	d.out.note("\nEvents on the profile:")
	if _, err := d.kubectl.Run(ctx, "events", "--for", "segmentationprofile/"+profileName); err != nil {
		return err
	}
	d.out.note("\nThe manager's metrics:")
	m, err := d.manager.Metrics(ctx)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(d.kubectl.Echo, "$ curl -s %s | grep '^tierguard_'\n", d.manager.MetricsURL)
	for _, s := range m.Filter("tierguard_") {
		_, _ = fmt.Fprintf(d.kubectl.Echo, "%s%s %g\n", s.Name, formatLabels(s.Labels), s.Value)
	}
	return nil
}

// clusterNetworkPolicies shows a namespace owner's allow-all opening the
// NetworkPolicy boundary, and the same cluster with the boundary enforced
// by Admin-tier ClusterNetworkPolicies, where it opens nothing.
func (d *demo) clusterNetworkPolicies(ctx context.Context) error {
	d.out.heading("Boundaries namespace owners cannot open: ClusterNetworkPolicy enforcement")
	d.out.note("A namespace owner in billing-prod allows everything in. NetworkPolicies are additive, so this opens\nthe prod boundary, and Tierguard reports it:")
	allowAll := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: billing-prod}\nspec:\n  podSelector: {}\n  ingress: [{}]\n"
	if _, err := d.kubectl.RunWithInput(ctx, allowAll, "apply", "-f", "-"); err != nil {
		return err
	}
	if _, err := d.kubectl.Wait(ctx, time.Minute, "--for=condition=IsolationVerified=False", "segmentationprofile/"+profileName); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "get", "segmentationprofile", profileName, "-o",
		`jsonpath={.status.conditions[?(@.type=="IsolationVerified")].message}{"\n"}`); err != nil {
		return err
	}
	if err := d.measureOnNode(ctx, "\nOn the node, the hole is real:",
		connection{"team-a-dev", "billing-prod", closedPort, true, "billing-prod's allow-all admits dev, as Tierguard reports"}); err != nil {
		return err
	}
	d.out.note("\nThe cluster serves ClusterNetworkPolicy (network-policy-api's CRD, pinned in go.mod; a CNI that implements it\nis what makes it real). The profile switches to enforcement Both: Admin-tier boundaries first, NetworkPolicies kept:")
	if err := harness.InstallClusterNetworkPolicyCRD(ctx, d.kubectl.Quiet()); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "patch", "segmentationprofile", profileName, "--type=merge", "-p", `{"spec":{"enforcement":"Both"}}`); err != nil {
		return err
	}
	if _, err := d.kubectl.Wait(ctx, 2*time.Minute, "--for=condition=IsolationVerified=True", "segmentationprofile/"+profileName); err != nil {
		return err
	}
	if _, err := d.kubectl.Run(ctx, "get", "clusternetworkpolicies", "-o", "custom-columns=NAME:.metadata.name,TIER:.spec.tier,PRIORITY:.spec.priority"); err != nil {
		return err
	}
	d.out.note("\nThe prod boundary: pass the namespaces' own traffic (one step ahead, per namespace), accept the shared\nnamespaces, deny every other namespace, whatever billing-prod's owner writes:")
	if _, err := d.kubectl.Run(ctx, "get", "clusternetworkpolicy", "tierguard."+profileName+".prod", "-o",
		`jsonpath={range .spec.ingress[*]}{.action}{"\t"}{.name}{"\n"}{end}`); err != nil {
		return err
	}
	d.out.note("\nThe allow-all is still there, and no longer a hole:")
	if _, err := d.kubectl.Run(ctx, "get", "segmentationprofile", profileName, "-o",
		`jsonpath={.status.conditions[?(@.type=="IsolationVerified")].reason}: {.status.conditions[?(@.type=="IsolationVerified")].message}{"\n"}`); err != nil {
		return err
	}
	return d.measureOnNode(ctx, "\nWhere a CNI enforces ClusterNetworkPolicy, that is. kube-router enforces NetworkPolicy only, so on this node\nthe allow-all still admits dev:",
		connection{"team-a-dev", "billing-prod", closedPort, true, "kube-router does not implement ClusterNetworkPolicy"})
}

// waitRepairs polls status.drift.repairs until it reaches n.
func (d *demo) waitRepairs(ctx context.Context, n int) error {
	return harness.WaitFor(ctx, fmt.Sprintf("status.drift.repairs to reach %d", n), time.Minute, d.manager.Process, func(ctx context.Context) error {
		out, err := d.kubectl.Quiet().Run(ctx, "get", "segmentationprofile", profileName, "-o", "jsonpath={.status.drift.repairs}")
		if err != nil {
			return err
		}
		if got, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || got < n {
			return fmt.Errorf("status.drift.repairs is %q", out)
		}
		return nil
	})
}

// printUsage tells how to use and stop the cluster left running.
func (d *demo) printUsage() {
	if d.node != nil {
		d.printNodeUsage()
		return
	}
	d.out.heading("The demo cluster keeps running")
	d.out.note("Use it from another shell (the PATH line puts first a kubectl of the API server's version):\n\n"+
		"    export KUBECONFIG=%s\n    export PATH=%s:$PATH\n    kubectl get segmentationprofiles\n    kubectl get namespaces -L %s\n\n"+
		"Manager: pid %d, as %s, log %s, metrics %s\n"+
		"Control plane logs: %s\n\n"+
		"Stop it with `make demo-stop`, Ctrl-C here, or `kill %d`.",
		d.cp.KubeconfigPath, filepath.Dir(d.kubectl.Path), tierLabel, d.manager.PID(), harness.ManagerUser, d.manager.LogPath, d.manager.MetricsURL,
		filepath.Dir(d.cp.APIServerLogPath), os.Getpid())
}

// stop stops the manager, then the control plane, or on a real node the
// whole cluster.
func (d *demo) stop() error {
	var errs []error
	if d.manager != nil {
		errs = append(errs, d.manager.Stop(10*time.Second))
	}
	if d.node != nil {
		d.out.muted = true
		if d.cp != nil {
			fmt.Println("Stopping the cluster and removing what it changed on this machine...")
		}
		err := errors.Join(append(errs, d.stopNode())...)
		if err == nil && d.cp != nil {
			fmt.Println("Stopped the manager and the cluster; nothing of them is left on this machine.")
		}
		return err
	}
	if d.cp != nil {
		d.out.muted = true
		errs = append(errs, d.cp.Stop())
	}
	err := errors.Join(errs...)
	if err == nil && d.cp != nil {
		fmt.Println("Stopped the manager and the control plane.")
	}
	return err
}

// rel shortens a path under the working directory.
func (d *demo) rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// formatLabels renders labels as Prometheus does, sorted.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
