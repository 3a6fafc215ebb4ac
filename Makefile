# Image URL to use for building and deploying the manager.
IMG ?= ghcr.io/tierguard/tierguard:latest

# Kubernetes version of the test control plane built from source (hack/envtest).
ENVTEST_K8S_VERSION ?= 1.37.2
# The platform of the machine running the tests, as setup-envtest names it.
GOOS_GOARCH := $(shell go env GOOS)-$(shell go env GOARCH)
ENVTEST_ASSETS_DIR ?= $(HOME)/.local/share/kubebuilder-envtest/k8s/$(ENVTEST_K8S_VERSION)-$(GOOS_GOARCH)

# kube-router, the dataplane suite's NetworkPolicy engine, is built outside the
# repository (test/dataplane/kuberouter is its own module) and reused.
KUBE_ROUTER_BIN ?= $(HOME)/.cache/tierguard/kube-router-v2.1.0/kube-router

GOBIN_DIR := $(shell pwd)/bin

# CONTAINER_TOOL builds and pushes images (docker or podman).
CONTAINER_TOOL ?= docker
GO ?= go

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: verify
verify: manifests generate bundle helm-chart ## Fail when generated files (CRD, RBAC, DeepCopy, OLM bundle, Helm chart) are stale or code is not gofmt-clean.
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	@if [ -n "$$(git status --porcelain -- api config bundle bundle.Dockerfile dist/chart)" ]; then \
		echo "Generated files are stale; run 'make manifests generate bundle helm-chart' and commit:"; \
		git status --porcelain -- api config bundle bundle.Dockerfile dist/chart; git diff --stat -- api config bundle bundle.Dockerfile dist/chart; exit 1; fi

.PHONY: test
# The end-to-end and dataplane suites run one after the other, after the
# rest: each drives real processes and measures latencies, so they must not
# compete for the CPU with each other.
test: manifests generate fmt vet envtest-assets node-assets kube-router ## Run unit, envtest, e2e, dataplane and real-node suites against the control plane built from source.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test $$($(GO) list ./... | grep -v -e /test/e2e -e /test/dataplane -e /test/cluster) -count=1 -timeout 30m
	$(MAKE) test-image
	$(MAKE) test-differential
	$(MAKE) test-prometheus
	$(MAKE) test-helm
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test ./test/e2e/ -count=1 -timeout 20m
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" KUBE_ROUTER_BIN="$(KUBE_ROUTER_BIN)" $(GO) test ./test/dataplane/ -count=1 -timeout 20m
	$(MAKE) test-cluster

.PHONY: test-cluster
test-cluster: envtest-assets node-assets kube-router ## Install Tierguard on a real node (kubelet, containerd, kube-proxy, kube-router; test/cluster) as users do and prove isolation between real pods (root, Linux).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" KUBE_ROUTER_BIN="$(KUBE_ROUTER_BIN)" $(GO) test ./test/cluster/ -count=1 -v -timeout 30m

.PHONY: test-image
test-image: ## Test hack/image, the image builder used without a Docker daemon (its own module), against the Dockerfile.
	cd hack/image && $(GO) test ./... -count=1

.PHONY: cluster
cluster: envtest-assets node-assets kube-router ## Start a single-node cluster on this machine (test/cluster; root, Linux) and leave it running until Ctrl-C or `make cluster-down`.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" KUBE_ROUTER_BIN="$(KUBE_ROUTER_BIN)" $(GO) run ./hack/cluster

.PHONY: cluster-down
cluster-down: ## Stop the cluster `make cluster` left running and remove everything it changed.
	$(GO) run ./hack/cluster -stop

.PHONY: test-differential
test-differential: ## Compare internal/evaluate's verdicts with kube-network-policies' engine on random clusters (test/differential, its own module).
	cd test/differential && $(GO) test ./... -count=1 -v -run .

.PHONY: test-prometheus
test-prometheus: envtest-assets ## Unit-test config/prometheus's alerts, check its manifests against the prometheus-operator CRDs and its queries against a running manager (test/prometheus, its own module).
	cd test/prometheus && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test ./... -count=1

.PHONY: test-helm
test-helm: envtest-assets ## Lint and template the Helm chart (dist/chart), install and upgrade it on a local control plane (test/helm, its own module: the Helm SDK).
	cd test/helm && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test ./... -count=1

.PHONY: test-e2e
test-e2e: envtest-assets ## Run only the end-to-end suite (test/e2e): the manager binary on a local control plane, driven through kubectl.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test ./test/e2e/ -count=1 -v -timeout 20m

.PHONY: test-dataplane
test-dataplane: envtest-assets kube-router ## Prove isolation with real packets: kube-router enforcing Tierguard's policies between network namespaces (root, Linux).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" KUBE_ROUTER_BIN="$(KUBE_ROUTER_BIN)" $(GO) test ./test/dataplane/ -count=1 -v

.PHONY: kube-router
kube-router: ## Build kube-router, the dataplane suite's policy engine and a test instrument only, into KUBE_ROUTER_BIN (once; ~5 min cold).
	test/dataplane/kuberouter/build.sh "$(KUBE_ROUTER_BIN)"

.PHONY: demo
demo: build envtest-assets ## Show the sample profile, drift and repair: on a real node with real pods and measured traffic when root on Linux (builds the node's binaries and kube-router once when missing), else on a control plane alone (DEMO_PLANE_ONLY=1 forces it; DEMO_EXIT=1: stop at the end).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" KUBE_ROUTER_BIN="$(KUBE_ROUTER_BIN)" $(GO) run ./hack/demo

.PHONY: demo-stop
demo-stop: ## Stop the demo `make demo` left running (either mode; on a real node this removes everything the cluster changed).
	$(GO) run ./hack/demo -stop

.PHONY: node-assets
node-assets: ## Build kubelet, kube-scheduler, kube-proxy and the CNI plugins from source beside the control plane (once; about 1 min after envtest-assets).
	ENVTEST_ASSETS_DIR="$(ENVTEST_ASSETS_DIR)" K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest/build.sh node

.PHONY: envtest-assets
envtest-assets: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl from source (once; ~20 min cold on 2 cores).
	ENVTEST_ASSETS_DIR="$(ENVTEST_ASSETS_DIR)" K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest/build.sh

.PHONY: bench
bench: envtest-assets ## Measure the manager against the physical limit of fresh local control planes (about 30 min on 2 cores; not part of test); writes test/bench/results/latest.{json,md} and scaling.svg. BENCH_ARGS: see go run ./test/bench -h.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) run ./test/bench $(BENCH_ARGS)

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and the kubectl plugin into bin/.
	$(GO) build -o bin/manager ./cmd/manager
	$(GO) build -o bin/kubectl-segmentation ./cmd/kubectl-segmentation

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster in KUBECONFIG.
	$(GO) run ./cmd/manager --leader-elect=false

VERSION_STAMP = $$(git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT_STAMP = $$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: docker-build
docker-build: ## Build the manager's image IMG from the Dockerfile; without a docker or podman daemon (CONTAINER_TOOL), the same image as bin/image.tar (hack/image).
	@if $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
		$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION_STAMP) --build-arg COMMIT=$(COMMIT_STAMP) -t $(IMG) . ; \
	else \
		echo "No $(CONTAINER_TOOL) daemon: building $(IMG) as bin/image.tar with hack/image (import it with ctr -n k8s.io images import, or docker load)"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION_STAMP) -X main.commit=$(COMMIT_STAMP)" -o bin/manager-linux ./cmd/manager && \
		cd hack/image && $(GO) run . -dockerfile ../../Dockerfile -binary ../../bin/manager-linux -tag $(IMG) -o ../../bin/image.tar ; \
	fi

.PHONY: docker-push
docker-push: ## Push the manager's image IMG.
	$(CONTAINER_TOOL) push $(IMG)

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster in KUBECONFIG.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRD from the cluster in KUBECONFIG (and first the admission policy that takes its profiles as params).
	kubectl delete --ignore-not-found validatingadmissionpolicybinding,validatingadmissionpolicy tierguard-protect-tier-labels
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the manager to the cluster in KUBECONFIG.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the manager from the cluster in KUBECONFIG.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write dist/install.yaml: every object of config/default, with the image IMG.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

# Version of the OLM bundle; empty: spec.version of the base CSV in
# config/manifests/bases.
BUNDLE_VERSION ?=

.PHONY: helm-chart
helm-chart: manifests ## Generate the Helm chart (dist/chart) from config/ with hack/helmchart.
	$(GO) run ./hack/helmchart

.PHONY: bundle
bundle: manifests ## Generate the OLM bundle (bundle/, bundle.Dockerfile) from config/ with hack/bundle (image IMG).
	$(GO) run ./hack/bundle -image=$(IMG) $(if $(BUNDLE_VERSION),-version=$(BUNDLE_VERSION))

##@ Documentation and release

# The README's matrix example: the sample profile, its namespaces and a
# foreign allow-all in billing-prod.
DOCS_MATRIX_ARGS = --profile-file config/samples/segmentation_v1alpha1_segmentationprofile.yaml \
	--namespaces internal/render/testdata/namespaces.yaml --policies cmd/kubectl-segmentation/testdata/policies-allow-all.yaml

.PHONY: docs-image
docs-image: ## Draw docs/segmentation.svg, the README's matrix example as kubectl segmentation matrix -o dot draws it (needs Graphviz: apt-get install graphviz).
	@command -v dot >/dev/null || { echo "docs-image needs Graphviz's dot: apt-get install graphviz" >&2; exit 1; }
	mkdir -p docs
	$(GO) run ./cmd/kubectl-segmentation matrix $(DOCS_MATRIX_ARGS) -o dot | dot -Tsvg -o docs/segmentation.svg

.PHONY: krew-manifest
krew-manifest: ## Build the kubectl-segmentation archives for linux and darwin, amd64 and arm64, into dist/krew/ and write the krew manifest dist/krew/segmentation.yaml from their sha256 (VERSION=v1.2.3; attach these archives to the release VERSION).
	@test -n "$(VERSION)" || { echo "usage: make krew-manifest VERSION=v1.2.3" >&2; exit 2; }
	GO=$(GO) hack/krew/release.sh $(VERSION) dist/krew

##@ Tools

CONTROLLER_GEN ?= $(GOBIN_DIR)/controller-gen
KUSTOMIZE ?= $(GOBIN_DIR)/kustomize
GOLANGCI_LINT ?= $(GOBIN_DIR)/golangci-lint

CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs a pinned Go tool into bin/ through the Go module proxy.
define go-install-tool
@mkdir -p $(GOBIN_DIR); echo "Installing $(2)@$(3)"; GOBIN=$(GOBIN_DIR) $(GO) install $(2)@$(3)
endef
