package build

import (
	"archive/tar"
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// The users and groups of distroless, by id.
const (
	rootID    = 0
	nonrootID = 65532
	nobodyID  = 65534
)

// caBundlePath is where distroless keeps its CA bundle, and where SSL_CERT_FILE points.
const caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

// The account files of gcr.io/distroless/static, as its common/BUILD.bazel writes them.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"tty:x:5:\n" +
		"staff:x:50:\n" +
		"nonroot:x:65532:\n"
	// nsswitch keeps the lookups of distroless's nsswitch.conf that Go's resolver reads.
	nsswitch = "passwd: compat\ngroup: compat\nshadow: compat\nhosts: files dns\n" +
		"networks: files\nprotocols: db files\nservices: db files\n"
)

// entry is one file or directory of the layer.
type entry struct {
	dir      bool
	mode     int64
	uid, gid int
	data     []byte
}

// filesystem is the layer's contents by clean absolute path.
type filesystem map[string]entry

// baseFilesystem returns the files of gcr.io/distroless/static:nonroot that a static
// binary can notice: accounts, homes, /tmp and the CA bundle when caBundle is not nil.
// Left out: tzdata, netbase's /etc/services and /etc/os-release, which the manager does
// not read.
func baseFilesystem(caBundle []byte) filesystem {
	files := filesystem{
		"/etc":               {dir: true, mode: 0o755},
		"/etc/passwd":        {mode: 0o644, data: []byte(passwd)},
		"/etc/group":         {mode: 0o644, data: []byte(group)},
		"/etc/nsswitch.conf": {mode: 0o644, data: []byte(nsswitch)},
		"/etc/ssl":           {dir: true, mode: 0o755},
		"/etc/ssl/certs":     {dir: true, mode: 0o755},
		"/home":              {dir: true, mode: 0o755},
		"/home/nonroot":      {dir: true, mode: 0o700, uid: nonrootID, gid: nonrootID},
		"/root":              {dir: true, mode: 0o700},
		"/tmp":               {dir: true, mode: 0o1777},
	}
	if caBundle != nil {
		files[caBundlePath] = entry{mode: 0o644, data: caBundle}
	}
	return files
}

// isDir reports whether p is a directory of files; the root always is.
func (files filesystem) isDir(p string) bool {
	return p == "/" || files[p].dir
}

// addFile adds a root-owned file at p, creating missing parents as docker's COPY does
// (root-owned, 0755). It refuses to replace anything.
func (files filesystem) addFile(p string, mode int64, data []byte) error {
	if _, ok := files[p]; ok {
		return fmt.Errorf("%s is already in the base image", p)
	}
	for parent := path.Dir(p); parent != "/"; parent = path.Dir(parent) {
		e, ok := files[parent]
		if !ok {
			files[parent] = entry{dir: true, mode: 0o755}
			continue
		}
		if !e.dir {
			return fmt.Errorf("%s: %s is a file in the base image", p, parent)
		}
	}
	files[p] = entry{mode: mode, data: data}
	return nil
}

// tar writes files as an uncompressed tar, every entry with mtime, in path order so that
// parents come first and the same contents give the same bytes.
func (files filesystem) tar(mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		e := files[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
		}
		if e.dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}
