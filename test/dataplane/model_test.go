package dataplane

import "testing"

// TestModelAllows pins the declared rule on cells that exercise each clause.
func TestModelAllows(t *testing.T) {
	tcp443 := Port{Protocol: "TCP", Number: 443}
	tcp8080 := Port{Protocol: "TCP", Number: 8080}
	udp53 := Port{Protocol: "UDP", Number: 53}
	m := Model{
		Tiers:             map[string]string{"dev-a": "dev", "dev-b": "dev", "test-a": "test", "prod-a": "prod", "prod-b": "prod"},
		NamespaceIsolated: map[string]bool{"prod": true},
		Shared:            map[string]bool{"ingress": true},
		Flows:             []Flow{{From: "dev", To: "test", Ports: []Port{tcp443}}},
		DNS:               map[string]bool{"kube-system": true},
	}
	egress := m
	egress.EgressIsolated = true
	tests := []struct {
		name  string
		model Model
		cell  Cell
		want  bool
	}{
		{"same namespace", m, Cell{"prod-a", "prod-a", tcp8080}, true},
		{"same tier, Tier isolation", m, Cell{"dev-a", "dev-b", tcp8080}, true},
		{"same tier, Namespace isolation", m, Cell{"prod-a", "prod-b", tcp443}, false},
		{"flow port", m, Cell{"dev-a", "test-a", tcp443}, true},
		{"flow, other port", m, Cell{"dev-a", "test-a", tcp8080}, false},
		{"flow is one-way", m, Cell{"test-a", "dev-a", tcp443}, false},
		{"shared source", m, Cell{"ingress", "prod-a", tcp8080}, true},
		{"ungoverned source", m, Cell{"legacy", "dev-a", tcp443}, false},
		{"ungoverned destination", m, Cell{"prod-a", "legacy", tcp8080}, true},
		{"egress: ungoverned destination", egress, Cell{"prod-a", "legacy", tcp8080}, false},
		{"egress: shared destination", egress, Cell{"prod-a", "ingress", tcp8080}, true},
		{"egress: DNS", egress, Cell{"prod-a", "kube-system", udp53}, true},
		{"egress: kube-system off port 53", egress, Cell{"prod-a", "kube-system", tcp443}, false},
		{"egress: flow", egress, Cell{"dev-a", "test-a", tcp443}, true},
		{"egress: ungoverned source unaffected", egress, Cell{"legacy", "kube-system", tcp443}, true},
		{"egress: same tier", egress, Cell{"dev-a", "dev-b", udp53}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.model.Allows(tt.cell); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v", tt.cell, got, tt.want)
			}
		})
	}
}

// TestMatrixDiffAndString checks the comparison and the rendering.
func TestMatrixDiffAndString(t *testing.T) {
	ports := []Port{{Protocol: "TCP", Number: 443}, {Protocol: "UDP", Number: 53}}
	names := []string{"a", "b"}
	want := NewMatrix(names, ports, func(c Cell) bool { return c.From == c.To })
	got := NewMatrix(names, ports, func(c Cell) bool { return c.From == c.To || c.Port.Protocol == "UDP" })
	diff := got.Diff(want)
	if len(diff) != 2 || diff[0] != "a -> b udp/53: measured open, intended closed" {
		t.Errorf("Diff = %q", diff)
	}
	if got.CountOpen() != 6 {
		t.Errorf("CountOpen = %d, want 6", got.CountOpen())
	}
	wantString := "rows: from; columns: to; each cell: tcp/443 udp/53 (+ open, - closed)\n" +
		"from \\ to a  b \n" +
		"a         ++ -+\n" +
		"b         -+ ++\n"
	if s := got.String(); s != wantString {
		t.Errorf("String =\n%s\nwant\n%s", s, wantString)
	}
}
