package render

import (
	"fmt"
	"strings"
	"testing"
)

func TestBoundList(t *testing.T) {
	ports := make([]string, 150)
	for i := range ports {
		ports[i] = fmt.Sprintf("TCP/%d", 1000+i)
	}
	tests := []struct {
		name  string
		items []string
		limit int
		want  string
	}{
		{"fits", []string{"TCP/22", "TCP/80"}, 100, "TCP/22, TCP/80"},
		{"empty", nil, 10, ""},
		{"cut", []string{"TCP/22", "TCP/80", "TCP/443", "UDP/53"}, 30, "TCP/22, TCP/80, ... and 2 more"},
		{"first item too long", []string{strings.Repeat("x", 50), "y"}, 20, "... and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BoundList(tt.items, ", ", tt.limit)
			if got != tt.want {
				t.Errorf("BoundList = %q, want %q", got, tt.want)
			}
			if len(got) > tt.limit {
				t.Errorf("len %d > limit %d", len(got), tt.limit)
			}
		})
	}
	got := BoundList(ports, ", ", 1024)
	if len(got) > 1024 || !strings.HasPrefix(got, "TCP/1000, TCP/1001") || !strings.Contains(got, " more") {
		t.Errorf("150 ports: %d bytes: %q", len(got), got)
	}
	for limit := 0; limit < 120; limit++ {
		if got := BoundList(ports, " and ", limit); len(got) > limit {
			t.Fatalf("limit %d: %d bytes: %q", limit, len(got), got)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	s := strings.Repeat("é", 100)
	got := Truncate(s, 51)
	if len(got) > 51 || !strings.HasSuffix(got, "...(truncated)") {
		t.Errorf("got %q (%d bytes)", got, len(got))
	}
}
