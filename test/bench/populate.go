package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// tiers are the sample profile's tiers; governed namespaces carry
// env=<tier>, which the sample's selectors match.
var tiers = []string{"dev", "test", "prod"}

// populateWorkers bounds parallel creates while populating: enough to keep
// a 2-core plane busy (20,300 namespaces and their ServiceAccounts take
// about a minute).
const populateWorkers = 32

// layout is the set of namespaces of one scale.
type layout struct {
	// Governed are the names of the namespaces a tier selects.
	Governed []string
	// Unrelated are namespaces no tier selects (the sample's shared
	// namespaces among them).
	Unrelated []string
	labels    map[string]map[string]string
}

// newLayout spreads n namespaces round-robin over the tiers and adds
// unrelated ones.
func newLayout(n, unrelated int) layout {
	l := layout{labels: map[string]map[string]string{}}
	for i := range n {
		tier := tiers[i%len(tiers)]
		name := fmt.Sprintf("%s-%05d", tier, i)
		l.Governed = append(l.Governed, name)
		l.labels[name] = map[string]string{"env": tier, "team": fmt.Sprintf("team-%d", i%50)}
	}
	shared := []string{"ingress-nginx", "monitoring"}
	for i := range unrelated {
		name := fmt.Sprintf("other-%04d", i)
		if i < len(shared) {
			name = shared[i]
		}
		l.Unrelated = append(l.Unrelated, name)
		l.labels[name] = map[string]string{"team": fmt.Sprintf("team-%d", i%50)}
	}
	return l
}

// all returns every namespace of the layout.
func (l layout) all() []string { return append(append([]string{}, l.Governed...), l.Unrelated...) }

// create creates the layout's namespaces, each with its default
// ServiceAccount, and waits until every namespace has one, so that
// kube-controller-manager's work is over before anything is timed. Its
// serviceaccount controller has a single worker: left alone, it would take
// minutes to catch up with 20,000 namespaces.
func (l layout) create(ctx context.Context, c kubernetes.Interface) error {
	names := l.all()
	err := parallel(ctx, len(names), populateWorkers, func(ctx context.Context, i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: names[i], Labels: l.labels[names[i]]}}
		if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", names[i], err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
		if _, err := c.CoreV1().ServiceAccounts(names[i]).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the default ServiceAccount of %s: %w", names[i], err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return waitDefaultServiceAccounts(ctx, c, 5*time.Minute)
}

// waitDefaultServiceAccounts waits until every namespace has its default
// ServiceAccount.
func waitDefaultServiceAccounts(ctx context.Context, c kubernetes.Interface, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		nss, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return fmt.Errorf("list namespaces: %w", err)
		}
		sas, err := c.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=default", ResourceVersion: "0"})
		if err != nil {
			return fmt.Errorf("list service accounts: %w", err)
		}
		if len(sas.Items) >= len(nss.Items) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-controller-manager created %d of %d default ServiceAccounts in %s", len(sas.Items), len(nss.Items), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// parallel runs do(i) for i in [0, n) on at most workers goroutines and
// returns the first error; the others stop picking up work after it.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		next     = make(chan int)
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}
