package controller

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

func TestOwnedOnly(t *testing.T) {
	owned := map[string]string{"tier": "dev", render.ProfileLabel: "p", "psa": "baseline"}
	base := map[string]string{"env": "dev", "tier": "dev", render.ProfileLabel: "p", "psa": "baseline"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for bk, bv := range base {
			m[bk] = bv
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		new   map[string]string
		owned map[string]string
		want  bool
	}{
		{"tier label changed", with("tier", "prod"), owned, true},
		{"tier label removed", with("tier", ""), owned, true},
		{"namespaceLabels value changed", with("psa", "privileged"), owned, true},
		{"profile label removed", with(render.ProfileLabel, ""), owned, true},
		{"selector label changed", with("env", "prod"), owned, false},
		{"selector label removed", with("env", ""), owned, false},
		{"unowned label added", with("team", "a"), owned, false},
		{"no plan for the namespace", with("tier", "prod"), nil, false},
		{"nothing changed", with("env", "dev"), owned, true},
	} {
		if got := ownedOnly(base, tc.new, tc.owned); got != tc.want {
			t.Errorf("%s: ownedOnly = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestDirtyTracker(t *testing.T) {
	var d dirtyTracker
	if _, delta := d.take("p"); delta {
		t.Fatal("a pass no event recorded is a full pass")
	}
	d.namespace("p", "b")
	d.namespace("p", "a")
	d.namespace("p", "a")
	if names, delta := d.take("p"); !delta || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("take = %v, %t; want [a b], delta", names, delta)
	}
	if _, delta := d.take("p"); delta {
		t.Fatal("take does not clear the record")
	}

	d.namespace("p", "a")
	d.full("p")
	d.namespace("p", "b")
	if _, delta := d.take("p"); delta {
		t.Fatal("a full mark is lost to a later namespace mark")
	}

	for i := range maxDeltaNamespaces + 1 {
		d.namespace("p", fmt.Sprint(i))
	}
	if _, delta := d.take("p"); delta {
		t.Fatalf("more than %d namespaces make a delta pass", maxDeltaNamespaces)
	}

	d.namespace("p", "a")
	d.full("q")
	if _, delta := d.take("p"); !delta {
		t.Fatal("another profile's full mark reached p")
	}
}

func TestOthersKeyIgnoresListOrder(t *testing.T) {
	profiles := []segv1.SegmentationProfile{{}, {}, {}}
	for i, name := range []string{"self", "a", "b"} {
		profiles[i].Name, profiles[i].UID, profiles[i].Generation = name, types.UID("uid-"+name), int64(i+1)
	}
	reversed := slices.Clone(profiles)
	slices.Reverse(reversed)
	if othersKey("self", profiles) != othersKey("self", reversed) {
		t.Fatal("the key depends on the order the cache lists profiles in")
	}
	changed := slices.Clone(profiles)
	changed[1].Generation++
	if othersKey("self", profiles) == othersKey("self", changed) {
		t.Fatal("another profile's new generation keeps the key")
	}
	self := slices.Clone(profiles)
	self[0].Generation++
	if othersKey("self", profiles) != othersKey("self", self) {
		t.Fatal("the profile's own generation is in the key of the others")
	}
}
