package main

import "testing"

func TestConnectionIntended(t *testing.T) {
	refused := dialResult{Target: "tcp:10.244.0.6:8080", Error: "dial tcp4 10.244.0.6:8080: connect: connection refused"}
	timedOut := dialResult{Target: "tcp:10.244.0.6:8080", Error: "dial tcp4 10.244.0.6:8080: i/o timeout"}
	answered := func(peer string) dialResult { return dialResult{Target: "tcp:10.244.0.6:8080", Open: true, Peer: peer} }
	closed := connection{"team-a-dev", "payments-prod", closedPort, false, "dev cannot reach prod"}
	open := connection{"team-a-dev", "sandbox", closedPort, true, "dev reaches dev"}
	tests := []struct {
		name    string
		c       connection
		r       dialResult
		want    bool
		verdict string
	}{
		{"refused as intended", closed, refused, true, "refused"},
		{"blocked as intended", closed, timedOut, true, "blocked (no answer within 2s)"},
		{"connected where the profile forbids", closed, answered("payments-prod"), false, "connected: answered by payments-prod"},
		{"connected as intended", open, answered("sandbox"), true, "connected: answered by sandbox"},
		{"refused where the profile allows", open, refused, false, "refused"},
		{"answered by another pod", open, answered("payments-prod"), false, "connected: answered by payments-prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.intended(tt.r); got != tt.want {
				t.Errorf("intended = %v, want %v", got, tt.want)
			}
			if got := verdict(tt.r); got != tt.verdict {
				t.Errorf("verdict = %q, want %q", got, tt.verdict)
			}
		})
	}
}
