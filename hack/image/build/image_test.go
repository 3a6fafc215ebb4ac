package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tierguard/tierguard/hack/image/internal/testbin"
)

// file is what the tests check of a layer entry.
type file struct {
	typeflag byte
	mode     int64
	uid, gid int
}

// readBack writes img as the command does and reads it back from the tarball: the image,
// and the layer's entries and contents by name.
func readBack(t *testing.T, img v1.Image, tag string) (v1.Image, map[string]file, map[string][]byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteTarball(img, tag, out); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatalf("read back %s: %v", out, err)
	}
	layers, err := loaded.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	files, contents := map[string]file{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %s, want the epoch", hdr.Name, hdr.ModTime)
		}
		files[hdr.Name] = file{hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid}
		if contents[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	return loaded, files, contents
}

func digests(t *testing.T, img v1.Image) (config, manifest v1.Hash) {
	t.Helper()
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err = img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return config, manifest
}

func TestBuildFromRepositoryDockerfile(t *testing.T) {
	def := parseRepositoryDockerfile(t)
	binary := testbin.Static(t)
	caBundle := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caBundle, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Binary: binary, CABundle: caBundle, Created: time.Unix(0, 0)}
	img, err := Build(def, opts)
	if err != nil {
		t.Fatal(err)
	}

	loaded, files, contents := readBack(t, img, "localhost/tierguard:dev")
	cfg, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if cfg.Config.User != "65532:65532" || cfg.Config.WorkingDir != "/" ||
		!reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/manager"}) || !reflect.DeepEqual(cfg.Config.Env, def.Env) {
		t.Errorf("config %+v, want the Dockerfile's %+v", cfg.Config, def)
	}

	const dir, reg = tar.TypeDir, tar.TypeReg
	want := map[string]file{
		"etc/":                              {dir, 0o755, 0, 0},
		"etc/group":                         {reg, 0o644, 0, 0},
		"etc/nsswitch.conf":                 {reg, 0o644, 0, 0},
		"etc/passwd":                        {reg, 0o644, 0, 0},
		"etc/ssl/":                          {dir, 0o755, 0, 0},
		"etc/ssl/certs/":                    {dir, 0o755, 0, 0},
		"etc/ssl/certs/ca-certificates.crt": {reg, 0o644, 0, 0},
		"home/":                             {dir, 0o755, 0, 0},
		"home/nonroot/":                     {dir, 0o700, 65532, 65532},
		"manager":                           {reg, 0o755, 0, 0},
		"root/":                             {dir, 0o700, 0, 0},
		"tmp/":                              {dir, 0o1777, 0, 0},
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("layer entries\n got %v\nwant %v", files, want)
	}
	binaryBytes, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contents["manager"], binaryBytes) {
		t.Error("/manager is not the binary")
	}
	for _, line := range []string{"root:x:0:0:root:/root:/sbin/nologin", "nobody:x:65534:65534:", "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"} {
		if !strings.Contains(string(contents["etc/passwd"]), line) {
			t.Errorf("/etc/passwd has no %q", line)
		}
	}
	if !strings.Contains(string(contents["etc/group"]), "nonroot:x:65532:\n") {
		t.Errorf("/etc/group has no nonroot group:\n%s", contents["etc/group"])
	}

	again, err := Build(def, opts)
	if err != nil {
		t.Fatal(err)
	}
	config1, manifest1 := digests(t, img)
	config2, manifest2 := digests(t, again)
	if config1 != config2 || manifest1 != manifest2 {
		t.Errorf("a second build differs: config %s then %s, manifest %s then %s", config1, config2, manifest1, manifest2)
	}
	loadedConfig, _ := digests(t, loaded)
	if loadedConfig != config1 {
		t.Errorf("the tarball's config is %s, the built image's %s", loadedConfig, config1)
	}
}

func TestBuildProbe(t *testing.T) {
	def, err := Probe("/usr/local/bin/probe", "")
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(def, Options{Binary: testbin.Static(t), Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	loaded, files, _ := readBack(t, img, "localhost/tierguard-probe:dev")
	cfg, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532" || !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/usr/local/bin/probe"}) {
		t.Errorf("config %+v, want user 65532 running /usr/local/bin/probe", cfg.Config)
	}
	for name, want := range map[string]file{
		"usr/":                {tar.TypeDir, 0o755, 0, 0},
		"usr/local/":          {tar.TypeDir, 0o755, 0, 0},
		"usr/local/bin/":      {tar.TypeDir, 0o755, 0, 0},
		"usr/local/bin/probe": {tar.TypeReg, 0o755, 0, 0},
	} {
		if files[name] != want {
			t.Errorf("%s: %+v, want %+v", name, files[name], want)
		}
	}
	if _, ok := files["etc/ssl/certs/ca-certificates.crt"]; ok {
		t.Error("a CA bundle without Options.CABundle")
	}
}

func TestBuildCreatedTime(t *testing.T) {
	def, err := Probe("/probe", "")
	if err != nil {
		t.Fatal(err)
	}
	binary := testbin.Static(t)
	epoch, err := Build(def, Options{Binary: binary, Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	later, err := Build(def, Options{Binary: binary, Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	epochConfig, _ := digests(t, epoch)
	laterConfig, _ := digests(t, later)
	if epochConfig == laterConfig {
		t.Error("Created does not change the image")
	}
	cfg, err := later.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %s, want the given time", cfg.Created)
	}
}

func TestBuildRefuses(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	static := testbin.Static(t)
	for _, tc := range []struct {
		name, binary, entrypoint, want string
	}{
		{"dynamic binary", "/bin/true", "/probe", "is dynamically linked"},
		{"not ELF", script, "/probe", "bad magic number"},
		{"over a base file", static, "/etc/passwd", "/etc/passwd is already in the base image"},
		{"under a base file", static, "/etc/passwd/probe", "/etc/passwd is a file"},
		{"over a base directory", static, "/tmp", "/tmp is already in the base image"},
	} {
		if tc.binary == "/bin/true" {
			if _, err := os.Stat(tc.binary); err != nil {
				t.Logf("%s: skipped, no %s", tc.name, tc.binary)
				continue
			}
		}
		def, err := Probe(tc.entrypoint, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Build(def, Options{Binary: tc.binary})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestProbeRefusesRelativeEntrypoint(t *testing.T) {
	for _, entrypoint := range []string{"probe", "/", "/a/../probe", ""} {
		if _, err := Probe(entrypoint, ""); err == nil {
			t.Errorf("Probe(%q) accepted", entrypoint)
		}
	}
}
