package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/reports"
)

// +kubebuilder:rbac:groups=openreports.io,resources=reports;clusterreports,verbs=get;list;watch;create;patch;delete

// ErrReportsNotServed is returned by ReportsServed when the API server
// serves no openreports.io/v1alpha1 Report and ClusterReport.
var ErrReportsNotServed = errors.New("the API server serves no openreports.io/v1alpha1 reports and clusterreports: install the OpenReports CRDs (github.com/openreports/reports-api)")

// ReportsServed checks, at start, that the OpenReports API is served.
func ReportsServed(d discovery.DiscoveryInterface) error {
	resources, err := d.ServerResourcesForGroupVersion(orv1.SchemeGroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
		return ErrReportsNotServed
	case err != nil:
		return fmt.Errorf("discover %s: %w", orv1.SchemeGroupVersion, err)
	}
	var found int
	for _, r := range resources.APIResources {
		if r.Name == "reports" || r.Name == "clusterreports" {
			found++
		}
	}
	if found < 2 {
		return ErrReportsNotServed
	}
	return nil
}

// writeReports brings the profile's OpenReports to what the pass found:
// applied where their content differs from the cached ones (so a steady
// pass writes nothing), deleted from namespaces the profile no longer
// governs. profile carries the status just written.
func (r *ProfileReconciler) writeReports(ctx context.Context, profile *segv1.SegmentationProfile, o outcome) error {
	if !r.Reports {
		return nil
	}
	in := reports.Input{Profile: profile, Plan: o.plan, IsolationKnown: o.isolation.known, Leaks: o.isolation.leaks}
	own := client.MatchingLabels{render.ManagedByLabel: render.ManagedByValue, render.ProfileLabel: profile.Name}

	clusterReports := &orv1.ClusterReportList{}
	if err := r.Client.List(ctx, clusterReports, own, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list cluster reports: %w", err)
	}
	want := reports.ClusterReport(in)
	var live *orv1.ClusterReport
	for i := range clusterReports.Items {
		if clusterReports.Items[i].Name == want.Name {
			live = &clusterReports.Items[i]
		}
	}
	if live == nil || !reportMatches(&live.ObjectMeta, &want.ObjectMeta, live.Scope, want.Scope, live.Results, want.Results, live.Summary, want.Summary) {
		if err := r.applyReport(ctx, &orv1.ClusterReport{ObjectMeta: metav1.ObjectMeta{Name: want.Name}}, &want); err != nil {
			return err
		}
	}

	namespaced := &orv1.ReportList{}
	if err := r.Client.List(ctx, namespaced, own, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list reports: %w", err)
	}
	byNS := make(map[string]*orv1.Report, len(namespaced.Items))
	for i := range namespaced.Items {
		if rep := &namespaced.Items[i]; rep.Name == reports.Name(profile.Name) {
			byNS[rep.Namespace] = rep
		}
	}
	var errs []error
	for _, w := range reports.NamespaceReports(in) {
		l := byNS[w.Namespace]
		delete(byNS, w.Namespace)
		if l != nil && reportMatches(&l.ObjectMeta, &w.ObjectMeta, l.Scope, w.Scope, l.Results, w.Results, l.Summary, w.Summary) {
			continue
		}
		if err := r.applyReport(ctx, &orv1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name}}, &w); err != nil {
			errs = append(errs, err)
		}
	}
	for ns, l := range byNS {
		if o.plan.IsHeld(ns) {
			continue // kept as it is, like the namespace
		}
		err := r.Client.Delete(ctx, l, client.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete report %s/%s: %w", ns, l.Name, err))
		}
	}
	return errors.Join(errs...)
}

// reportKind keys the echoes of report writes (not an API kind of
// Tierguard's objects: reports are its output, not enforced objects).
const reportKind segv1.ObjectKind = "Report"

// applyReport server-side applies a report under Tierguard's field manager.
func (r *ProfileReconciler) applyReport(ctx context.Context, target client.Object, want any) error {
	data, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("encode report %s: %w", client.ObjectKeyFromObject(target), err)
	}
	err = r.Client.Patch(ctx, target, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(FieldManager), client.ForceOwnership)
	if apierrors.IsNotFound(err) && target.GetNamespace() != "" {
		return nil // the namespace is gone
	}
	if err != nil {
		return fmt.Errorf("apply report %s: %w", client.ObjectKeyFromObject(target), err)
	}
	r.echoes.Wrote(reportKind, target.GetNamespace(), target.GetName(), target.GetResourceVersion())
	return nil
}

// reportMatches reports whether a cached report holds what is wanted: its
// labels, owner references, scope, results and summary.
func reportMatches(live, want *metav1.ObjectMeta, liveScope, wantScope any, liveResults, wantResults []orv1.ReportResult,
	liveSummary, wantSummary orv1.ReportSummary) bool {
	for k, v := range want.Labels {
		if live.Labels[k] != v {
			return false
		}
	}
	for _, ref := range want.OwnerReferences {
		if !slices.ContainsFunc(live.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == ref.UID }) {
			return false
		}
	}
	return liveSummary == wantSummary && equality.Semantic.DeepEqual(liveScope, wantScope) &&
		equality.Semantic.DeepEqual(liveResults, wantResults)
}
