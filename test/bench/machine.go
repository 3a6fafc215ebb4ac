package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// Machine describes where the bench ran.
type Machine struct {
	// CPUs is the number of CPUs usable (nproc).
	CPUs int `json:"cpus"`
	// Model is the CPU model from /proc/cpuinfo.
	Model string `json:"model"`
	// MemoryMiB is MemTotal from /proc/meminfo.
	MemoryMiB float64 `json:"memoryMiB"`
	// OS and Arch are the Go runtime's.
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

// thisMachine reads the machine's description; fields it cannot read stay
// empty.
func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	m.Model = firstField("/proc/cpuinfo", "model name")
	if s, err := procStatusFile("/proc/meminfo"); err == nil {
		m.MemoryMiB = mib(s["MemTotal"])
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages as the kernel
// prints them; the machine may be shared, and the figures depend on it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// firstField returns the value of the first "key : value" line of path
// whose key is key.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
