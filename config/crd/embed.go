// Package crd embeds the generated CustomResourceDefinitions, so that tools
// built from this module validate against exactly the schema that is
// installed, without a copy that could drift.
package crd

import _ "embed"

// SegmentationProfiles is the CRD of SegmentationProfile, as generated in
// bases/ by controller-gen.
//
//go:embed bases/segmentation.tierguard.io_segmentationprofiles.yaml
var SegmentationProfiles []byte
