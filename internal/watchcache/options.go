package watchcache

import (
	"context"
	"fmt"
	"maps"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tierguard/tierguard/internal/render"
)

// CacheOptions are the manager's cache options: managedFields stripped
// everywhere, and from NetworkPolicies also the last-applied annotation
// kubectl keeps (a copy of the object). The cache holds only the
// NetworkPolicies labelled as Tierguard's; the others are kept, apart, only
// in governed namespaces (see ForeignPolicies). Namespaces are watched as
// metadata only (the controller's SetupWithManager), with their label
// strings interned, and a tier's managed policies share their spec and
// metadata (see interner).
func CacheOptions() cache.Options {
	in := newInterner()
	return cache.Options{
		DefaultTransform: func(obj any) (any, error) {
			if a, ok := obj.(metav1.Object); ok {
				a.SetManagedFields(nil)
				a.SetLabels(internLabels(a.GetLabels()))
			}
			return obj, nil
		},
		ByObject: map[client.Object]cache.ByObject{
			&networkingv1.NetworkPolicy{}: {
				Label: labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedByValue}),
				Transform: func(obj any) (any, error) {
					stripPolicy(obj)
					if p, ok := obj.(*networkingv1.NetworkPolicy); ok {
						in.policy(p)
					}
					return obj, nil
				},
			},
		},
	}
}

// WithReports adds the OpenReports kinds to cache options, only Tierguard's
// (other tools' many reports never crowd the cache). Only for a manager that
// writes reports: the kinds must be served when the cache starts.
func WithReports(o cache.Options) cache.Options {
	own := labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedByValue})
	o.ByObject[&orv1.Report{}] = cache.ByObject{Label: own}
	o.ByObject[&orv1.ClusterReport{}] = cache.ByObject{Label: own}
	return o
}

// stripPolicy drops what Tierguard never reads from a cached policy.
func stripPolicy(obj any) {
	if a, ok := obj.(metav1.Object); ok {
		a.SetManagedFields(nil)
		if ann := a.GetAnnotations(); ann[lastAppliedAnnotation] != "" {
			ann = maps.Clone(ann)
			delete(ann, lastAppliedAnnotation)
			a.SetAnnotations(ann)
		}
	}
}

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Start adds to the manager, run on the leader, a reflector that feeds
// every NetworkPolicy not labelled as Tierguard's to f, which keeps those
// of governed namespaces. It lists and watches in protobuf.
func (f *ForeignPolicies) Start(mgr ctrl.Manager) error {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	c, err := networkingv1client.NewForConfigAndClient(cfg, mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("client for foreign network policies: %w", err)
	}
	policies, sel := c.NetworkPolicies(metav1.NamespaceAll), foreignSelector().String()
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return policies.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return policies.Watch(ctx, o)
		},
	}
	reflector := toolscache.NewReflectorWithOptions(lw, &networkingv1.NetworkPolicy{}, f,
		toolscache.ReflectorOptions{Name: "foreign-networkpolicies"})
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		reflector.RunWithContext(ctx)
		return nil
	}))
}
