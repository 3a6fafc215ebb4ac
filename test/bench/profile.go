package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// sampleProfile is the profile the bench applies: the repository's sample,
// three tiers with a flow, shared namespaces and per-tier labels, so every
// policy has each kind of rule.
const sampleProfile = "samples/segmentation_v1alpha1_segmentationprofile.yaml"

// loadProfile reads the sample profile from configDir.
func loadProfile(configDir string) (*segv1.SegmentationProfile, error) {
	data, err := os.ReadFile(filepath.Join(configDir, sampleProfile))
	if err != nil {
		return nil, fmt.Errorf("read sample profile: %w", err)
	}
	p := &segv1.SegmentationProfile{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("decode sample profile: %w", err)
	}
	return p, nil
}

// createProfile creates a copy of profile and returns it as stored, with
// the API server's defaults and its UID.
func createProfile(ctx context.Context, c client.Client, profile *segv1.SegmentationProfile) (*segv1.SegmentationProfile, error) {
	p := profile.DeepCopy()
	if err := c.Create(ctx, p); err != nil {
		return nil, fmt.Errorf("create profile %s: %w", p.Name, err)
	}
	return p, nil
}

// expectedPlan computes, with the controller's own renderer, what Tierguard
// must write for profile given the cluster's namespaces: the bench verifies
// the cluster against it.
func expectedPlan(ctx context.Context, c kubernetes.Interface, profile *segv1.SegmentationProfile) (*render.Plan, error) {
	list, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return planFor(profile, list.Items)
}

// planFor renders profile for namespaces.
func planFor(profile *segv1.SegmentationProfile, namespaces []corev1.Namespace) (*render.Plan, error) {
	in := render.Input{Profile: profile, OperatorNamespace: harness.SystemNamespace}
	for _, ns := range namespaces {
		in.Namespaces = append(in.Namespaces, render.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	plan, err := render.Compute(in)
	if err != nil {
		return nil, fmt.Errorf("render profile %s: %w", profile.Name, err)
	}
	return plan, nil
}
