package cnpapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	npav1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// AddToScheme registers both versions Tierguard can write.
func AddToScheme(s *runtime.Scheme) error {
	if err := npav1beta1.Install(s); err != nil {
		return err
	}
	return npav1alpha2.Install(s)
}

// Tierguard renders v1beta1 and reads and writes the served version: the
// two have the same schema, so an object of one is the JSON of the other
// with another apiVersion.

// NewObject returns an empty ClusterNetworkPolicy of the version.
func NewObject(gv schema.GroupVersion) client.Object {
	if gv.Version == "v1alpha2" {
		return &npav1alpha2.ClusterNetworkPolicy{}
	}
	return &npav1beta1.ClusterNetworkPolicy{}
}

// NewList returns an empty ClusterNetworkPolicy list of the version.
func NewList(gv schema.GroupVersion) client.ObjectList {
	if gv.Version == "v1alpha2" {
		return &npav1alpha2.ClusterNetworkPolicyList{}
	}
	return &npav1beta1.ClusterNetworkPolicyList{}
}

// Items returns a list's policies as v1beta1. A v1beta1 list's items are
// returned as they are (not copied).
func Items(list client.ObjectList) ([]npav1beta1.ClusterNetworkPolicy, error) {
	switch l := list.(type) {
	case *npav1beta1.ClusterNetworkPolicyList:
		return l.Items, nil
	case *npav1alpha2.ClusterNetworkPolicyList:
		out := make([]npav1beta1.ClusterNetworkPolicy, len(l.Items))
		for i := range l.Items {
			if err := convert(&l.Items[i], &out[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a ClusterNetworkPolicy list: %T", list)
}

// ToV1beta1 returns a policy of either version as v1beta1 (the same
// object for v1beta1).
func ToV1beta1(obj client.Object) (*npav1beta1.ClusterNetworkPolicy, error) {
	switch o := obj.(type) {
	case *npav1beta1.ClusterNetworkPolicy:
		return o, nil
	case *npav1alpha2.ClusterNetworkPolicy:
		out := &npav1beta1.ClusterNetworkPolicy{}
		return out, convert(o, out)
	}
	return nil, fmt.Errorf("not a ClusterNetworkPolicy: %T", obj)
}

// ApplyData is the server-side apply body of a rendered policy in the
// version: its JSON with that apiVersion.
func ApplyData(p *npav1beta1.ClusterNetworkPolicy, gv schema.GroupVersion) ([]byte, error) {
	c := *p
	c.APIVersion, c.Kind = gv.String(), "ClusterNetworkPolicy"
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode ClusterNetworkPolicy %s: %w", p.Name, err)
	}
	return data, nil
}

func convert(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// Detector remembers what Detect found for a while: a version found for
// found, ErrNotServed for notFound, so passes do not ask discovery each
// time and an installed CRD is noticed within notFound.
type Detector struct {
	Discovery discovery.DiscoveryInterface
	// Found and NotFound are how long each answer is kept (defaults 10
	// minutes and 30 seconds).
	Found, NotFound time.Duration

	mu  sync.Mutex
	gv  schema.GroupVersion
	err error
	at  time.Time
}

// Version returns the version to write, or ErrNotServed, or a discovery
// error (never remembered).
func (d *Detector) Version() (schema.GroupVersion, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ttl := cmp.Or(d.Found, 10*time.Minute)
	if d.err != nil {
		ttl = d.RetryAfter()
	}
	if !d.at.IsZero() && time.Since(d.at) < ttl {
		return d.gv, d.err
	}
	if d.Discovery == nil {
		return schema.GroupVersion{}, ErrNotServed
	}
	gv, err := Detect(d.Discovery)
	if err != nil && !errors.Is(err, ErrNotServed) {
		return gv, err
	}
	d.gv, d.err, d.at = gv, err, time.Now()
	return gv, err
}

// RetryAfter is how long an ErrNotServed answer is kept: when to look
// again.
func (d *Detector) RetryAfter() time.Duration {
	return cmp.Or(d.NotFound, 30*time.Second)
}

// Forget drops the remembered answer: the next Version asks discovery.
func (d *Detector) Forget() {
	d.mu.Lock()
	d.at = time.Time{}
	d.mu.Unlock()
}
