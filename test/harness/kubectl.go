package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Kubectl runs a kubectl binary against one kubeconfig, passed in the
// KUBECONFIG environment variable so that an echoed command is exactly what a
// person types after `export KUBECONFIG=...`.
type Kubectl struct {
	// Path is the kubectl binary.
	Path string
	// Kubeconfig is the kubeconfig file it uses.
	Kubeconfig string
	// Env is added to the environment, e.g. KUBE_EDITOR for `kubectl edit`.
	Env []string
	// Echo, when set, receives "$ kubectl <args>" before each command and
	// the command's output after it.
	Echo io.Writer
}

// WithEnv returns a copy of k whose commands also get env.
func (k Kubectl) WithEnv(env ...string) Kubectl {
	k.Env = append(append([]string{}, k.Env...), env...)
	return k
}

// Quiet returns a copy of k that echoes nothing, for polling.
func (k Kubectl) Quiet() Kubectl {
	k.Echo = nil
	return k
}

// WithKubeconfig returns a copy of k that authenticates with another
// kubeconfig, for acting as another user.
func (k Kubectl) WithKubeconfig(path string) Kubectl {
	k.Kubeconfig = path
	return k
}

// Command returns the command running kubectl with args and stdin.
func (k Kubectl) Command(ctx context.Context, stdin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.Path, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+k.Kubeconfig), k.Env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

// Run runs kubectl with args and returns its stdout. The error quotes the
// command and its stderr. With Echo set, the command and its combined output
// are echoed.
func (k Kubectl) Run(ctx context.Context, args ...string) (string, error) {
	return k.RunWithInput(ctx, "", args...)
}

// RunWithInput is Run with stdin, for `kubectl apply -f -`.
func (k Kubectl) RunWithInput(ctx context.Context, stdin string, args ...string) (string, error) {
	k.echo("$ kubectl %s\n", quoteArgs(args))
	var stdout, stderr bytes.Buffer
	cmd := k.Command(ctx, stdin, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	k.echo("%s%s", stdout.Bytes(), stderr.Bytes())
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", quoteArgs(args), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// echo writes to Echo, when set; echoing is best effort.
func (k Kubectl) echo(format string, args ...any) {
	if k.Echo != nil {
		_, _ = fmt.Fprintf(k.Echo, format, args...)
	}
}

// quoteArgs renders args as a shell would need them, quoting those with
// spaces or shell metacharacters in single quotes.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"{}[]$*?|&;<>()\\`!#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// Wait runs `kubectl wait <args> --timeout=<timeout>`. kubectl wait fails at
// once, instead of waiting, while the object has no status.conditions yet
// (".status.conditions accessor error") or does not exist, so Wait retries
// those failures until timeout. The command is echoed once, as typed.
func (k Kubectl) Wait(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	args = append(append([]string{"wait"}, args...), fmt.Sprintf("--timeout=%s", timeout))
	k.echo("$ kubectl %s\n", quoteArgs(args))
	deadline := time.Now().Add(timeout)
	for {
		out, err := k.Quiet().Run(ctx, args...)
		if err == nil {
			k.echo("%s", out)
			return out, nil
		}
		transient := strings.Contains(err.Error(), "accessor error") || strings.Contains(err.Error(), "NotFound") ||
			strings.Contains(err.Error(), "not found")
		if !transient || time.Now().After(deadline) || ctx.Err() != nil {
			k.echo("%v\n", err)
			return out, err
		}
		_ = Sleep(ctx, PollInterval) // an ended ctx fails the next attempt
	}
}
