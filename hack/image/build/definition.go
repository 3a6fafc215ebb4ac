// Package build writes the manager's container image without a container daemon: the
// final stage of the repository's Dockerfile over the files of
// gcr.io/distroless/static:nonroot, as one deterministic layer.
package build

import (
	"fmt"
	"path"
	"strings"
)

// Definition is everything the image holds besides the base files: where the binary goes
// and the runtime configuration. Base returns the base image's; ParseDockerfile applies a
// Dockerfile's final stage over it.
type Definition struct {
	// BinaryPath is the absolute path of the binary in the image.
	BinaryPath string
	// User is the user (and group) the entrypoint runs as, such as "65532:65532".
	User string
	// WorkingDir is the absolute working directory of the entrypoint.
	WorkingDir string
	// Entrypoint is the command the container runs.
	Entrypoint []string
	// Cmd holds the entrypoint's default arguments.
	Cmd []string
	// Env holds KEY=value pairs, the base image's first.
	Env []string
	// Labels are the image's labels.
	Labels map[string]string
	// ExposedPorts holds port/protocol entries such as "8080/tcp".
	ExposedPorts []string
}

// Base returns the configuration gcr.io/distroless/static:nonroot carries: user nonroot,
// working directory its home, and the environment distroless sets.
func Base() Definition {
	return Definition{
		User:       fmt.Sprint(nonrootID),
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
	}
}

// Probe returns the definition of an image without a Dockerfile: the base, the binary at
// entrypoint (an absolute path) run as user, or as the base's user when user is empty.
func Probe(entrypoint, user string) (Definition, error) {
	if !path.IsAbs(entrypoint) || path.Clean(entrypoint) != entrypoint || entrypoint == "/" {
		return Definition{}, fmt.Errorf("entrypoint %q: want a clean absolute file path such as /probe", entrypoint)
	}
	def := Base()
	def.BinaryPath = entrypoint
	def.Entrypoint = []string{entrypoint}
	if user != "" {
		def.User = user
	}
	return def, nil
}

// setEnv sets key to value, in place when the key is already set, as docker does.
func (d *Definition) setEnv(key, value string) {
	pair := key + "=" + value
	for i, kv := range d.Env {
		if strings.HasPrefix(kv, key+"=") {
			d.Env[i] = pair
			return
		}
	}
	d.Env = append(d.Env, pair)
}
