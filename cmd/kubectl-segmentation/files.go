package main

import (
	"context"
	"fmt"
	"io"
	"os"

	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cli"
	"github.com/tierguard/tierguard/internal/render"
)

// loadProfile reads and admits the profile file at path ("-" reads stdin):
// a profile the API server would refuse is never used, and what follows
// sees the server's defaults.
func loadProfile(ctx context.Context, stdin io.Reader, path string) (*segv1.SegmentationProfile, error) {
	r, closeFn, err := open(stdin, path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	obj, err := cli.ReadProfileObject(r)
	if err != nil {
		return nil, fmt.Errorf("reading profile %s: %w", path, err)
	}
	validator, err := cli.NewValidator()
	if err != nil {
		return nil, err
	}
	profile, err := validator.Admit(ctx, obj)
	if err != nil {
		if cli.IsInvalidProfile(err) {
			return nil, err // already worded as admission words it
		}
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return profile, nil
}

// readNamespaces reads the namespaces file at path.
func readNamespaces(stdin io.Reader, path string) ([]render.Namespace, error) {
	r, closeFn, err := open(stdin, path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	nss, err := cli.ReadNamespaces(r)
	if err != nil {
		return nil, fmt.Errorf("reading namespaces %s: %w", path, err)
	}
	return nss, nil
}

// readPolicies reads the NetworkPolicies file at path.
func readPolicies(stdin io.Reader, path string) ([]networkingv1.NetworkPolicy, error) {
	r, closeFn, err := open(stdin, path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ps, err := cli.ReadPolicies(r)
	if err != nil {
		return nil, fmt.Errorf("reading policies %s: %w", path, err)
	}
	return ps, nil
}

// readClusterPolicies reads the ClusterNetworkPolicies file at path.
func readClusterPolicies(stdin io.Reader, path string) ([]npav1beta1.ClusterNetworkPolicy, error) {
	r, closeFn, err := open(stdin, path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ps, err := cli.ReadClusterPolicies(r)
	if err != nil {
		return nil, fmt.Errorf("reading cluster network policies %s: %w", path, err)
	}
	return ps, nil
}

// open opens path, or stdin for "-".
func open(stdin io.Reader, path string) (io.Reader, func(), error) {
	if path == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}
