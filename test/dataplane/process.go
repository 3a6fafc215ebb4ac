package dataplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a child may take to exit after SIGTERM.
const stopGrace = 10 * time.Second

// processSpec describes a long-running child of the bed.
type processSpec struct {
	// name names the child in errors and logs.
	name string
	// path and args are what is executed.
	path string
	args []string
	// exe is the binary the child ends up running, when path execs another
	// (ip netns exec); empty means path. The PID registry checks it.
	exe string
	// env is added to the test's environment.
	env []string
	// logPath receives stderr, and stdout unless onLine is set.
	logPath string
	// onLine, when set, receives each stdout line as it arrives.
	onLine func(line string)
}

// process is a child the bed started. It is stopped by its PID only.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the child has exited
	exitErr error         // valid once done is closed
}

// startProcess starts spec's child, records its PID in the registry, and
// returns at once.
func startProcess(spec processSpec) (*process, error) {
	logFile, err := os.OpenFile(spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", spec.name, err)
	}
	// Writes to the log are best effort: a lost line must not stop a run.
	_, _ = fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), spec.path, strings.Join(spec.args, " "))
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	var stdout io.ReadCloser
	if spec.onLine == nil {
		cmd.Stdout = logFile
	} else if stdout, err = cmd.StdoutPipe(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	exe := spec.exe
	if exe == "" {
		exe = spec.path
	}
	if err := registerPID(cmd.Process.Pid, exe); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	p := &process{name: spec.name, logPath: spec.logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		if stdout != nil {
			// Wait may be called only once the pipe is drained.
			scanner := bufio.NewScanner(stdout)
			for scanner.Scan() {
				spec.onLine(scanner.Text())
			}
		}
		p.exitErr = cmd.Wait()
		_, _ = fmt.Fprintf(logFile, "==== %s: pid %d exited: %v\n", time.Now().Format(time.RFC3339Nano), cmd.Process.Pid, p.exitErr)
		_ = logFile.Close()
		unregisterPID(cmd.Process.Pid)
		close(p.done)
	}()
	return p, nil
}

// pid returns the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the child has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitError returns why the child exited; call it only once it has.
func (p *process) exitError() error {
	<-p.done
	if p.exitErr == nil {
		return errors.New("exited with status 0")
	}
	return p.exitErr
}

// stop sends SIGTERM to the child's PID, then SIGKILL after stopGrace. It
// does nothing when the child has exited.
func (p *process) stop() error {
	if p == nil || !p.running() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s (pid %d): %w", p.name, p.pid(), err)
	}
	// A paused child acts on SIGTERM only once continued.
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("stop %s (pid %d): still running after SIGKILL", p.name, p.pid())
	}
}

// signal sends sig to the child's PID.
func (p *process) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s (pid %d) with %v: %w", p.name, p.pid(), sig, err)
	}
	return nil
}

// logTail returns the last n lines of the child's log.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s\n", n, p.logPath, bytes.Join(lines, []byte("\n")))
}
