package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process that dies with the test (ChildSysProcAttr),
// restartable with the same command. Every run appends its standard output
// and error to LogPath. Set the exported fields, then call Start.
type Process struct {
	// Name names the process in errors.
	Name string
	// Path and Args are what runs; Dir is its working directory (empty:
	// this process's).
	Path string
	Args []string
	Dir  string
	// Env is added to this process's environment; later entries win.
	Env []string
	// LogPath collects standard error, and standard output unless Stdout is
	// set.
	LogPath string
	// Stdout, when set, receives each line of standard output as it arrives.
	Stdout func(line string)
	// OnStart, when set, is told the process id of each run once it runs;
	// an error kills the run. OnExit is told it once the run has exited.
	OnStart func(pid int) error
	OnExit  func(pid int)

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current run has exited
	exitErr error
}

// Start runs the process; it fails when it already runs.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("start %s: already running as pid %d", p.Name, p.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: open log: %w", p.Name, err)
	}
	// Writes to the log are best effort: a lost line must not stop a run.
	_, _ = fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), p.Path, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = ChildSysProcAttr()
	var stdout io.ReadCloser
	if p.Stdout == nil {
		cmd.Stdout = logFile
	} else if stdout, err = cmd.StdoutPipe(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	pid := cmd.Process.Pid
	if p.OnStart != nil {
		if err := p.OnStart(pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logFile.Close()
			return fmt.Errorf("start %s: %w", p.Name, err)
		}
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr = cmd, done, nil
	go func() {
		if stdout != nil {
			// Wait may be called only once the pipe is drained.
			scanner := bufio.NewScanner(stdout)
			for scanner.Scan() {
				p.Stdout(scanner.Text())
			}
		}
		err := cmd.Wait()
		_, _ = fmt.Fprintf(logFile, "==== %s: pid %d exited: %s\n", time.Now().Format(time.RFC3339Nano), pid, exitDescription(err))
		_ = logFile.Close()
		if p.OnExit != nil {
			p.OnExit(pid)
		}
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// current returns the last run's command and its done channel (nil before
// the first Start).
func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// PID returns the process id of the current or last run, 0 before Start.
func (p *Process) PID() int {
	cmd, _ := p.current()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Running reports whether a run has started and not exited.
func (p *Process) Running() bool {
	if p == nil {
		return false
	}
	cmd, done := p.current()
	return cmd != nil && !isClosed(done)
}

// Done returns a channel closed when the current run exits; it is closed
// already before the first Start.
func (p *Process) Done() <-chan struct{} {
	_, done := p.current()
	if done == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return done
}

// Exited reports whether the last run has exited, and with what error from
// exec.Cmd.Wait (nil for status 0).
func (p *Process) Exited() (bool, error) {
	cmd, done := p.current()
	if cmd == nil {
		return true, errors.New("not started")
	}
	if !isClosed(done) {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return true, p.exitErr
}

// ExitReason describes how the last run exited, for an error message.
func (p *Process) ExitReason() string {
	_, err := p.Exited()
	return exitDescription(err)
}

// Stop sends SIGTERM (and SIGCONT, since a stopped process acts on SIGTERM
// only once continued), waits up to grace for the process to exit, then
// kills it. It does nothing when the process does not run, p being nil
// included.
func (p *Process) Stop(grace time.Duration) error {
	if p == nil || !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %w", err)
	}
	_ = p.Signal(syscall.SIGCONT)
	select {
	case <-p.Done():
		return nil
	case <-time.After(grace):
	}
	return p.Kill()
}

// Kill sends SIGKILL, as a node failure or the OOM killer would, and waits
// for the process to be gone.
func (p *Process) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %w", err)
	}
	select {
	case <-p.Done():
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kill %s: pid %d still running 10s after SIGKILL", p.Name, p.PID())
	}
}

// Signal sends sig to the current run; a run that has just exited is no error.
func (p *Process) Signal(sig os.Signal) error {
	cmd, _ := p.current()
	if cmd == nil {
		return fmt.Errorf("%s: not started", p.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s (pid %d) with %v: %w", p.Name, cmd.Process.Pid, sig, err)
	}
	return nil
}

// Log returns the whole log file, every run's.
func (p *Process) Log() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	return string(data)
}

// LogTail returns the last n lines of the log file under a heading that
// names it, for a failure message.
func (p *Process) LogTail(n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(p.Log()), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s\n", n, p.LogPath, bytes.Join(lines, []byte("\n")))
}

// exitDescription describes the result of exec.Cmd.Wait.
func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// isClosed reports whether ch is closed; a nil channel is not.
func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
