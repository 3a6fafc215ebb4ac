package build

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Options are Build's inputs besides the Definition.
type Options struct {
	// Binary is the path of the static Linux binary to put at Definition.BinaryPath.
	Binary string
	// CABundle is the path of a CA bundle to copy to /etc/ssl/certs/ca-certificates.crt,
	// where distroless has one; skipped when empty or missing. The manager only talks to
	// the API server, with the in-cluster CA, so the bundle is a convenience.
	CABundle string
	// Created is the time of the image and of every file in it.
	Created time.Time
}

// Build returns the image of def: the base files of gcr.io/distroless/static:nonroot and
// the binary at def.BinaryPath (0755, root's), in one layer, with def's configuration.
// The same inputs give the same digest.
func Build(def Definition, opts Options) (v1.Image, error) {
	arch, err := StaticArch(opts.Binary)
	if err != nil {
		return nil, err
	}
	binary, err := os.ReadFile(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	caBundle, err := readIfPresent(opts.CABundle)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}

	files := baseFilesystem(caBundle)
	if err := files.addFile(def.BinaryPath, 0o755, binary); err != nil {
		return nil, fmt.Errorf("place binary: %w", err)
	}
	layerTar, err := files.tar(opts.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}

	created := v1.Time{Time: opts.Created.UTC()}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      created,
		Config:       def.config(),
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: distroless/static:nonroot files and " + def.BinaryPath,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	return img, nil
}

// WriteTarball writes img to file as a docker-format tarball tagged tag, the format of
// docker save that docker load and ctr images import read.
func WriteTarball(img v1.Image, tag, file string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// config returns the image configuration of d.
func (d Definition) config() v1.Config {
	cfg := v1.Config{
		User:       d.User,
		WorkingDir: d.WorkingDir,
		Entrypoint: d.Entrypoint,
		Cmd:        d.Cmd,
		Env:        d.Env,
		Labels:     d.Labels,
	}
	for _, port := range d.ExposedPorts {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	return cfg
}

// readIfPresent returns the contents of file, or nil when file is empty or missing.
func readIfPresent(file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
