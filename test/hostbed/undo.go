package hostbed

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// undoJournalPath lists, one JSON argv a line, the commands that undo what a
// run changed on the machine besides kernel settings and processes (a
// bridge, an iptables guard, a mount). A run records each before it makes
// the change, Down runs them, and the next run of either bed runs those a
// crashed run left, so one bed never starts on the other's leftovers.
var undoJournalPath = filepath.Join(StateDir, "undo")

var undoMu sync.Mutex

// RecordUndo records a command that undoes a change about to be made.
func RecordUndo(argv ...string) error {
	undoMu.Lock()
	defer undoMu.Unlock()
	line, err := json.Marshal(argv)
	if err != nil {
		return fmt.Errorf("record undo %v: %w", argv, err)
	}
	if err := os.MkdirAll(filepath.Dir(undoJournalPath), 0o700); err != nil {
		return fmt.Errorf("record undo: %w", err)
	}
	f, err := os.OpenFile(undoJournalPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record undo: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s\n", line)
	return errors.Join(err, f.Close())
}

// RunUndo runs the recorded commands, the last recorded first, and empties
// the journal. A command whose change is already gone fails harmlessly
// ("Cannot find device"), so failures are returned only for the log: the
// beds check the machine's state itself afterwards (leftovers).
func RunUndo() []error {
	undoMu.Lock()
	defer undoMu.Unlock()
	data, err := os.ReadFile(undoJournalPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("read undo journal: %w", err)}
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	slices.Reverse(lines)
	var errs []error
	for _, line := range lines {
		var argv []string
		if err := json.Unmarshal([]byte(line), &argv); err != nil || len(argv) == 0 {
			continue
		}
		if _, err := Run(argv[0], argv[1:]...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(undoJournalPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove undo journal: %w", err))
	}
	return errs
}

// RemoveLeftovers undoes what a crashed run of either bed left: it stops the
// recorded processes, runs the undo journal, removes the KUBE-* chains and
// ipsets and restores the journaled kernel settings. Call it with the run
// lock held, before the bed's own cleanup.
func RemoveLeftovers() error {
	err := KillRecordedProcesses()
	RunUndo() // failures mean already undone; the beds check their leftovers
	return errors.Join(err, RemoveKubeState(), RestoreJournaledSysctls())
}
