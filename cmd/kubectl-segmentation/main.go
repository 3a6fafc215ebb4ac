// Command kubectl-segmentation is the kubectl plugin of Tierguard: `kubectl
// segmentation render` previews, without a controller, exactly what a
// SegmentationProfile makes of a cluster's namespaces; `matrix` shows the
// connectivity the NetworkPolicies allow against the profile's intent; and
// `status` prints a profile's state for a person.
package main

import (
	"context"
	"os"
	"os/signal"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
