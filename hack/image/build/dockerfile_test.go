package build

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// repositoryDockerfile is the Dockerfile make docker-build builds with docker.
const repositoryDockerfile = "../../../Dockerfile"

func parseRepositoryDockerfile(t *testing.T) Definition {
	t.Helper()
	f, err := os.Open(repositoryDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	def, err := ParseDockerfile("Dockerfile", f)
	if err != nil {
		t.Fatalf("parse the repository's Dockerfile: %v", err)
	}
	return def
}

func TestParseRepositoryDockerfile(t *testing.T) {
	def := parseRepositoryDockerfile(t)
	want := Base()
	want.BinaryPath = "/manager"
	want.User = "65532:65532"
	want.WorkingDir = "/"
	want.Entrypoint = []string{"/manager"}
	if !reflect.DeepEqual(def, want) {
		t.Errorf("definition\n got %#v\nwant %#v", def, want)
	}
}

func TestParseDockerfile(t *testing.T) {
	const dockerfile = `# syntax=docker/dockerfile:1
ARG GO=1.26
FROM golang:${GO} AS build
RUN go build \
    -o /out/tool .

FROM --platform=$BUILDPLATFORM alpine AS other
RUN echo unrelated

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
# WORKDIR is relative to the base's, /home/nonroot, until set.
COPY --from=build --link /out/tool bin/
ENV PATH=/opt/bin \
    # comment lines inside a continuation are dropped
    GREETING="hello world" LEGACY_FREE=1
ENV OLD  legacy form value
LABEL org.opencontainers.image.title="tool" 'quoted key'=v
EXPOSE 8080 9443/udp
WORKDIR /tmp
USER nonroot
entrypoint /tool --flag
CMD ["--serve", "x y"]
`
	def, err := ParseDockerfile("Dockerfile", strings.NewReader(dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	want := Definition{
		BinaryPath: "/home/nonroot/bin/tool",
		User:       "nonroot",
		WorkingDir: "/tmp",
		Entrypoint: []string{"/bin/sh", "-c", "/tool --flag"},
		Cmd:        []string{"--serve", "x y"},
		Env: []string{
			"PATH=/opt/bin",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
			"GREETING=hello world",
			"LEGACY_FREE=1",
			"OLD=legacy form value",
		},
		Labels:       map[string]string{"org.opencontainers.image.title": "tool", "quoted key": "v"},
		ExposedPorts: []string{"8080/tcp", "9443/udp"},
	}
	if !reflect.DeepEqual(def, want) {
		t.Errorf("definition\n got %#v\nwant %#v", def, want)
	}
}

func TestParseDockerfileCopyDestination(t *testing.T) {
	for _, tc := range []struct{ workdir, copy, want string }{
		{"/", "COPY --from=0 /w/manager .", "/manager"},
		{"/", "COPY --from=0 /w/manager /manager", "/manager"},
		{"/", "COPY --from=0 /w/manager renamed", "/renamed"},
		{"/", `COPY --from=0 ["/w/manager", "/usr/local/bin/"]`, "/usr/local/bin/manager"},
		{"/tmp", "COPY --from=0 /w/manager /home/nonroot", "/home/nonroot/manager"},
		{"/tmp", "COPY --from=0 /w/manager ../bin/tool", "/bin/tool"},
	} {
		dockerfile := "FROM golang\nFROM gcr.io/distroless/static:nonroot\nWORKDIR " + tc.workdir + "\n" + tc.copy + "\n"
		def, err := ParseDockerfile("Dockerfile", strings.NewReader(dockerfile))
		if err != nil {
			t.Errorf("%s: %v", tc.copy, err)
			continue
		}
		if def.BinaryPath != tc.want {
			t.Errorf("%s with WORKDIR %s: binary at %s, want %s", tc.copy, tc.workdir, def.BinaryPath, tc.want)
		}
	}
}

func TestParseDockerfileRefuses(t *testing.T) {
	// Each final stage starts at line 3, after the builder stage.
	const builder = "FROM golang:1.26 AS builder\nRUN go build -o /workspace/manager .\n"
	const runtime = "FROM gcr.io/distroless/static:nonroot\nWORKDIR /\nCOPY --from=builder /workspace/manager .\n"
	for _, tc := range []struct{ name, dockerfile, want string }{
		{"RUN", runtime + "RUN chmod 0700 /manager\n", "Dockerfile:6: RUN chmod 0700 /manager: RUN is not supported"},
		{"second COPY", runtime + "COPY --from=builder /workspace/other /other\n", "Dockerfile:6: COPY --from=builder /workspace/other /other: a second COPY"},
		{"ADD", runtime + "ADD config.yaml /\n", "Dockerfile:6: ADD config.yaml /: ADD is not supported"},
		{"VOLUME", runtime + "VOLUME /data\n", "Dockerfile:6: VOLUME /data: VOLUME is not supported"},
		{"ARG in the final stage", runtime + "ARG VERSION\n", "Dockerfile:6: ARG VERSION: ARG is not supported"},
		{"another base", "FROM gcr.io/distroless/base:nonroot\nCOPY --from=builder /workspace/manager .\n", "Dockerfile:3: FROM gcr.io/distroless/base:nonroot: the final stage must be"},
		{"root base", "FROM gcr.io/distroless/static\nCOPY --from=builder /workspace/manager .\n", "Dockerfile:3: FROM"},
		{"no COPY", "FROM gcr.io/distroless/static:nonroot\nUSER 65532\n", "Dockerfile:3: FROM gcr.io/distroless/static:nonroot: the final stage copies no binary"},
		{"COPY from the context", "FROM gcr.io/distroless/static:nonroot\nCOPY manager /\n", "Dockerfile:4: COPY manager /: COPY from the build context"},
		{"COPY from an image", "FROM gcr.io/distroless/static:nonroot\nCOPY --from=busybox /bin/sh /\n", "Dockerfile:4: COPY --from=busybox /bin/sh /: --from=busybox is not an earlier stage"},
		{"COPY --chown", "FROM gcr.io/distroless/static:nonroot\nCOPY --from=builder --chown=1:1 /workspace/manager .\n", "Dockerfile:4: COPY --from=builder --chown=1:1 /workspace/manager .: flag --chown"},
		{"COPY glob", "FROM gcr.io/distroless/static:nonroot\nCOPY --from=builder /workspace/* /\n", "Dockerfile:4: COPY --from=builder /workspace/* /: source /workspace/* is not one file"},
		{"variable", "FROM gcr.io/distroless/static:nonroot\nCOPY --from=builder /workspace/manager .\nUSER ${UID}\n", "Dockerfile:5: USER ${UID}: variable substitution"},
		{"new WORKDIR", "FROM gcr.io/distroless/static:nonroot\nWORKDIR /app\nCOPY --from=builder /workspace/manager .\n", "Dockerfile:4: WORKDIR /app: /app is not a directory of the base image"},
		{"continued RUN", runtime + "RUN echo a \\\n  && echo b\n", "Dockerfile:6: RUN echo a   && echo b: RUN is not supported"},
	} {
		_, err := ParseDockerfile("Dockerfile", strings.NewReader(builder+tc.dockerfile))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseDockerfileRefusesBeforeStages(t *testing.T) {
	for _, tc := range []struct{ name, dockerfile, want string }{
		{"escape directive", "# escape=`\nFROM gcr.io/distroless/static:nonroot\n", "Dockerfile:1: the escape parser directive"},
		{"heredoc", "FROM golang AS b\nRUN <<EOF\nFROM x\nEOF\n", "Dockerfile:2: RUN <<EOF: heredocs"},
		{"no FROM", "ARG X=1\n", "Dockerfile: no FROM"},
		{"instruction before FROM", "ENV X=1\nFROM gcr.io/distroless/static:nonroot\n", "Dockerfile:1: ENV X=1 before the first FROM"},
	} {
		_, err := ParseDockerfile("Dockerfile", strings.NewReader(tc.dockerfile))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
