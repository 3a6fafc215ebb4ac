// Command image builds a container image from a static Linux binary without a container
// daemon, and writes it as a docker-format tarball for docker load or
// ctr -n k8s.io images import.
//
// With -dockerfile, the image is the final stage of that Dockerfile (which must start from
// gcr.io/distroless/static:nonroot and COPY one binary from an earlier stage), with
// -binary as the binary it copies:
//
//	go run . -dockerfile ../../Dockerfile -binary ../../bin/manager-linux -tag localhost/tierguard:dev -o ../../bin/tierguard-image.tar
//
// Without it, the binary goes to -entrypoint and runs as -user:
//
//	go run . -binary /tmp/probe -entrypoint /probe -user 65532:65532 -tag localhost/tierguard-probe:dev -o /tmp/probe.tar
//
// Files get the time SOURCE_DATE_EPOCH, or the Unix epoch, so a binary gives one digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tierguard/tierguard/hack/image/build"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("image", flag.ContinueOnError)
	dockerfile := flags.String("dockerfile", "", "Dockerfile whose final stage defines the image")
	binary := flags.String("binary", "", "static Linux binary to put into the image (required)")
	entrypoint := flags.String("entrypoint", "", "without -dockerfile: absolute path of the binary in the image, and the command the image runs")
	user := flags.String("user", "", "with -entrypoint: user[:group] to run as (default distroless's nonroot, 65532)")
	tag := flags.String("tag", "", "image name, such as localhost/tierguard:dev (required)")
	out := flags.String("o", "", "tarball to write (required)")
	caBundle := flags.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to copy into the image when present; empty for none")
	if err := flags.Parse(args); err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	case *binary == "" || *tag == "" || *out == "":
		return errors.New("-binary, -tag and -o are required")
	case (*dockerfile == "") == (*entrypoint == ""):
		return errors.New("give either -dockerfile or -entrypoint")
	case *dockerfile != "" && *user != "":
		return errors.New("-user goes with -entrypoint; with -dockerfile, USER says it")
	}

	created, err := sourceDateEpoch(getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	def, err := definition(*dockerfile, *entrypoint, *user)
	if err != nil {
		return err
	}
	img, err := build.Build(def, build.Options{Binary: *binary, CABundle: *caBundle, Created: created})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	if err := build.WriteTarball(img, *tag, *out); err != nil {
		return err
	}

	configDigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	info, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image  %s\nconfig %s\ntar    %s\nsize   %d\n", *tag, configDigest, *out, info.Size())
	return nil
}

// definition reads the Dockerfile, or describes the image that runs entrypoint as user.
func definition(dockerfile, entrypoint, user string) (build.Definition, error) {
	if dockerfile == "" {
		return build.Probe(entrypoint, user)
	}
	f, err := os.Open(dockerfile)
	if err != nil {
		return build.Definition{}, err
	}
	defer f.Close()
	return build.ParseDockerfile(dockerfile, f)
}

// sourceDateEpoch returns the time SOURCE_DATE_EPOCH gives (seconds since the epoch), or
// the Unix epoch when it is empty.
func sourceDateEpoch(value string) (time.Time, error) {
	if value == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	seconds, err := strconv.ParseInt(value, 10, 64)
	if err != nil || seconds < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a number of seconds", value)
	}
	return time.Unix(seconds, 0).UTC(), nil
}
