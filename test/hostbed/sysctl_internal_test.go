package hostbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysctlJournal restores a setting through the returned function, and
// through the journal when a crashed run never called it.
func TestSysctlJournal(t *testing.T) {
	dir := t.TempDir()
	saved := sysctlJournalPath
	sysctlJournalPath = filepath.Join(dir, "journal")
	t.Cleanup(func() { sysctlJournalPath = saved })
	setting := filepath.Join(dir, "setting")
	read := func() string {
		data, err := os.ReadFile(setting)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	if err := os.WriteFile(setting, []byte("6168\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := func(string) (string, error) { return "6160", nil }

	restore, err := SetSysctl(setting, set)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "6160" {
		t.Fatalf("after set: %q, want 6160", got)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "6168" || len(readJournal()) != 0 {
		t.Fatalf("after restore: %q, journal %v; want 6168 and an empty journal", got, readJournal())
	}

	if _, err := SetSysctl(setting, set); err != nil {
		t.Fatal(err)
	}
	// A crash: restore is never called; the next run restores from the journal.
	if err := RestoreJournaledSysctls(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "6168" || len(readJournal()) != 0 {
		t.Fatalf("after the journal's restore: %q, journal %v; want 6168 and an empty journal", got, readJournal())
	}
}
