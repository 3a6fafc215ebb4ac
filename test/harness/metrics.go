package harness

import (
	"fmt"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	// Name is the metric name.
	Name string
	// Labels are the sample's labels.
	Labels map[string]string
	// Value is the sample's value.
	Value float64
}

// Metrics are the samples of one scrape.
type Metrics []Sample

// ParseMetrics parses the Prometheus text exposition format (comments and
// timestamps are ignored). A tiny parser keeps the suite free of a direct
// dependency on Prometheus' libraries.
func ParseMetrics(text string) (Metrics, error) {
	var out Metrics
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", i+1, line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseSample parses `name{k="v",...} value [timestamp]`.
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.Name, line = line[:end], line[end:]
	if strings.HasPrefix(line, "{") {
		rest, err := parseLabels(line[1:], s.Labels)
		if err != nil {
			return s, err
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value: %w", err)
	}
	s.Value = v
	return s, nil
}

// parseLabels parses `k="v",...}` into labels and returns what follows `}`.
func parseLabels(in string, labels map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " ,")
		if strings.HasPrefix(in, "}") {
			return in[1:], nil
		}
		eq := strings.Index(in, "=")
		if eq <= 0 || len(in) < eq+2 || in[eq+1] != '"' {
			return "", fmt.Errorf("malformed labels")
		}
		key := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var v strings.Builder
		closed := false
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(in[i])
				}
				continue
			}
			if c == '"' {
				in, closed = in[i+1:], true
				break
			}
			v.WriteByte(c)
		}
		if !closed {
			return "", fmt.Errorf("unterminated label value")
		}
		labels[key] = v.String()
	}
}

// Sum adds the values of the samples named name whose labels include match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.Name == name && hasLabels(s.Labels, match) {
			total += s.Value
		}
	}
	return total
}

// Get returns the value of the one sample named name with exactly labels,
// and whether it exists.
func (m Metrics) Get(name string, labels map[string]string) (float64, bool) {
	for _, s := range m {
		if s.Name == name && len(s.Labels) == len(labels) && hasLabels(s.Labels, labels) {
			return s.Value, true
		}
	}
	return 0, false
}

// Filter returns the samples whose name starts with prefix.
func (m Metrics) Filter(prefix string) Metrics {
	var out Metrics
	for _, s := range m {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
