// Module image builds the manager's container image from a static binary without a
// container daemon: the runtime stage of the repository's Dockerfile, written as one layer.
module github.com/tierguard/tierguard/hack/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
