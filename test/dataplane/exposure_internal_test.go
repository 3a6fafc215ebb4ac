package dataplane

import (
	"testing"
	"time"
)

// TestExposureOf covers a window that opened and closed, one that never
// opened, and measurements not yet complete.
func TestExposureOf(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int, open bool) Attempt {
		return Attempt{At: t0.Add(time.Duration(ms) * time.Millisecond), Open: open}
	}
	timing := ExposureTiming{Observe: 3 * time.Second, Settle: time.Second, Deadline: 30 * time.Second}
	opened := []Attempt{at(100, false), at(700, true), at(900, true), at(1400, true), at(1410, false), at(1500, false)}
	closed := []Attempt{at(100, false), at(2000, false)}

	tests := []struct {
		name     string
		attempts []Attempt
		now      time.Duration
		want     Exposure
		done     bool
	}{
		{"opened then closed", opened, 4 * time.Second, Exposure{Opened: true, Open: 710 * time.Millisecond, TamperToClosed: 1410 * time.Millisecond}, true},
		{"before Observe", opened, 2 * time.Second, Exposure{}, false},
		{"closed too recently", []Attempt{at(700, true), at(2500, false)}, 3 * time.Second, Exposure{}, false},
		{"still open", opened[:4], 10 * time.Second, Exposure{}, false},
		{"never opened", closed, 4 * time.Second, Exposure{}, true},
		{"no attempt yet", nil, 4 * time.Second, Exposure{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := exposureOf(tt.attempts, t0, t0.Add(tt.now), timing)
			if got != tt.want || done != tt.done {
				t.Errorf("exposureOf = %+v, %v; want %+v, %v", got, done, tt.want, tt.done)
			}
		})
	}
}

// TestSummarize checks the median of odd and even counts.
func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	if s := Summarize(ms(900, 100, 500)); s != (Summary{Min: 100 * time.Millisecond, Median: 500 * time.Millisecond, Max: 900 * time.Millisecond}) {
		t.Errorf("odd: %+v", s)
	}
	if s := Summarize(ms(400, 100, 200, 900)); s.Median != 300*time.Millisecond {
		t.Errorf("even median: %v", s.Median)
	}
	if s := Summarize(nil); s != (Summary{}) {
		t.Errorf("empty: %+v", s)
	}
}
