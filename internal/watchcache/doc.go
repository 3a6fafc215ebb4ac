// Package watchcache is the plumbing between the API server's watches and
// the controller's passes: the manager's cache options (managedFields and
// kubectl's last-applied copy stripped, label strings interned, a tier's
// managed policies sharing their spec), the store of foreign NetworkPolicies
// in governed namespaces fed by its own reflector, and the echoes of
// Tierguard's own writes that need not start another pass.
//
// Everything the cache hands out is shared: callers read it and never
// mutate it (the controller's envtest suite compares every cached object
// with the API server's at the same resourceVersion after passes, to hold
// them to that).
package watchcache
