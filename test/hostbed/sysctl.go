package hostbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// sysctlJournalPath records the original value of every kernel setting the
// bed changed ("path value" a line) until it is restored, so that the next
// run restores what a crashed run changed.
var sysctlJournalPath = filepath.Join(StateDir, "sysctls")

var journalMu sync.Mutex

// SetSysctl sets a kernel setting to next(its current value), journals the
// current value, and returns a function that restores it.
func SetSysctl(path string, next func(prev string) (string, error)) (restore func() error, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	prev := strings.TrimSpace(string(data))
	value, err := next(prev)
	if err != nil {
		return nil, err
	}
	if value == prev {
		return func() error { return nil }, nil
	}
	if err := journalSysctl(path, prev); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return nil, errors.Join(fmt.Errorf("set %s to %s: %w", path, value, err), forgetSysctl(path))
	}
	return func() error {
		if err := os.WriteFile(path, []byte(prev), 0o644); err != nil {
			return fmt.Errorf("restore %s to %s: %w", path, prev, err)
		}
		return forgetSysctl(path)
	}, nil
}

// RestoreJournaledSysctls restores the settings a crashed run changed.
func RestoreJournaledSysctls() error {
	journalMu.Lock()
	defer journalMu.Unlock()
	var errs []error
	for path, value := range readJournal() {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s to %s: %w", path, value, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.Remove(sysctlJournalPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove sysctl journal: %w", err)
	}
	return nil
}

// journalSysctl records a setting's original value.
func journalSysctl(path, value string) error {
	journalMu.Lock()
	defer journalMu.Unlock()
	entries := readJournal()
	entries[path] = value
	return writeJournal(entries)
}

// forgetSysctl drops a restored setting from the journal.
func forgetSysctl(path string) error {
	journalMu.Lock()
	defer journalMu.Unlock()
	entries := readJournal()
	delete(entries, path)
	return writeJournal(entries)
}

func readJournal() map[string]string {
	entries := map[string]string{}
	data, err := os.ReadFile(sysctlJournalPath)
	if err != nil {
		return entries
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, value, ok := strings.Cut(line, " "); ok {
			entries[path] = value
		}
	}
	return entries
}

func writeJournal(entries map[string]string) error {
	if len(entries) == 0 {
		if err := os.Remove(sysctlJournalPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove sysctl journal: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(sysctlJournalPath), 0o700); err != nil {
		return fmt.Errorf("write sysctl journal: %w", err)
	}
	var b strings.Builder
	for path, value := range entries {
		fmt.Fprintf(&b, "%s %s\n", path, value)
	}
	if err := os.WriteFile(sysctlJournalPath, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write sysctl journal: %w", err)
	}
	return nil
}

// UnrestoredSysctls returns the journaled settings not restored yet, with
// their original values.
func UnrestoredSysctls() map[string]string {
	journalMu.Lock()
	defer journalMu.Unlock()
	return readJournal()
}
