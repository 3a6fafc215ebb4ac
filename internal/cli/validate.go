package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/config/crd"
)

// profileKind is the group and kind admission names in its messages.
var profileKind = schema.GroupKind{Group: segv1.GroupVersion.Group, Kind: "SegmentationProfile"}

// Validator admits SegmentationProfiles offline with the checks the API
// server runs on create, built from the embedded CRD: pruning of unknown
// fields (rejected, as kubectl's strict field validation does), defaulting,
// OpenAPI schema validation, list-type validation and the CEL rules.
type Validator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// NewValidator builds a Validator from the CRD embedded in config/crd.
func NewValidator() (*Validator, error) {
	var def apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(crd.SegmentationProfiles, &def); err != nil {
		return nil, fmt.Errorf("parsing the embedded CRD: %w", err)
	}
	var v1Schema *apiextensionsv1.JSONSchemaProps
	for _, v := range def.Spec.Versions {
		if v.Name == segv1.GroupVersion.Version && v.Schema != nil {
			v1Schema = v.Schema.OpenAPIV3Schema
		}
	}
	if v1Schema == nil {
		return nil, fmt.Errorf("the embedded CRD has no schema for %s", segv1.GroupVersion.Version)
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1Schema, &internal, nil); err != nil {
		return nil, fmt.Errorf("converting the CRD schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, fmt.Errorf("the CRD schema is not structural: %w", err)
	}
	// The API server prunes defaults that pruning would remove, so a default
	// never sets a field the schema does not know.
	structural = structural.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(structural); err != nil {
		return nil, fmt.Errorf("pruning the CRD's defaults: %w", err)
	}
	schemaValidator, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, fmt.Errorf("building the schema validator: %w", err)
	}
	return &Validator{
		structural: structural,
		schema:     schemaValidator,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// InvalidProfileError is a profile that admission would refuse. Its message
// is what kubectl prints for the API server's answer.
type InvalidProfileError struct {
	// Name is the profile's name, possibly empty.
	Name string
	// Errs are the field errors admission would return; nil when the
	// object could not even be decoded (Decoding is set instead).
	Errs field.ErrorList
	// Decoding is a decoding failure, such as an unknown field.
	Decoding error
}

// Error formats the refusal the way kubectl does, so users recognise it and
// tests can compare it with what a real API server says.
func (e *InvalidProfileError) Error() string {
	if e.Decoding != nil {
		return fmt.Sprintf("%s in version %q cannot be handled as a %s: %v",
			profileKind.Kind, segv1.GroupVersion.Version, profileKind.Kind, e.Decoding)
	}
	status := apierrors.NewInvalid(profileKind, e.Name, e.Errs).Status()
	prefix := fmt.Sprintf("The %s %q is invalid: ", status.Details.Kind, status.Details.Name)
	if len(e.Errs) == 1 {
		return prefix + e.Errs[0].Error()
	}
	lines := make([]string, 0, len(e.Errs))
	for _, fe := range e.Errs {
		lines = append(lines, "* "+fe.Error())
	}
	return prefix + "\n" + strings.Join(lines, "\n")
}

// Admit runs admission's checks on a decoded object and returns the typed,
// defaulted profile. obj is modified: pruned and defaulted, as the API server
// would store it.
func (v *Validator) Admit(ctx context.Context, obj map[string]any) (*segv1.SegmentationProfile, error) {
	if errs := validateTypeMeta(obj); len(errs) > 0 {
		return nil, &InvalidProfileError{Name: nameOf(obj), Errs: errs}
	}
	if err := v.decode(obj); err != nil {
		return nil, err
	}
	// The status subresource is enabled: a create ignores status.
	delete(obj, "status")
	structuraldefaulting.Default(obj, v.structural)

	name := nameOf(obj)
	errs := v.validateMetadata(obj)
	errs = append(errs, byField(apiservervalidation.ValidateCustomResource(nil, obj, v.schema))...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	// Like the API server, skip CEL when the object is structurally broken:
	// rules would fail on it with confusing messages.
	if blocking, err := hasBlockingErr(errs); blocking {
		errs = append(errs, err)
	} else {
		celErrs, _ := v.cel.Validate(ctx, nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, byField(celErrs)...)
	}
	if len(errs) > 0 {
		return nil, &InvalidProfileError{Name: name, Errs: errs}
	}

	var profile segv1.SegmentationProfile
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &profile, true); err != nil {
		// The schema admitted it, so the Go types disagree with the CRD.
		return nil, fmt.Errorf("converting the admitted profile: %w", err)
	}
	return &profile, nil
}

// decode is the API server's decoding step: unknown fields in metadata and
// in the schema are pruned and, with kubectl's default strict field
// validation, refused.
func (v *Validator) decode(obj map[string]any) error {
	meta, found, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return &InvalidProfileError{Decoding: err}
	}
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj, v.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	if found {
		if err := schemaobjectmeta.SetObjectMeta(obj, meta); err != nil {
			return &InvalidProfileError{Decoding: err}
		}
	}
	if len(unknown) > 0 {
		errs := make([]error, 0, len(unknown))
		for _, path := range unknown {
			errs = append(errs, fmt.Errorf("unknown field %q", path))
		}
		return &InvalidProfileError{Name: nameOf(obj), Decoding: runtime.NewStrictDecodingError(errs)}
	}
	return nil
}

func validateTypeMeta(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	if kind, _ := obj["kind"].(string); kind != profileKind.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), kind, "must be "+profileKind.Kind))
	}
	if apiVersion, _ := obj["apiVersion"].(string); apiVersion != segv1.GroupVersion.String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), apiVersion, "must be "+segv1.GroupVersion.String()))
	}
	return errs
}

// validateMetadata checks what the API server checks of a cluster-scoped
// object's metadata on create.
func (v *Validator) validateMetadata(obj map[string]any) field.ErrorList {
	meta, _, err := schemaobjectmeta.GetObjectMeta(obj, false)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	if meta.Name == "" {
		// The API server would generate a name from generateName; a preview
		// cannot, and every label it prints carries the name.
		return field.ErrorList{field.Required(field.NewPath("metadata", "name"), "a profile to render needs a name: it is the value of the segmentation.tierguard.io/profile label")}
	}
	return metavalidation.ValidateObjectMeta(meta, false, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// byField orders errors by field path. The validators walk maps, so the API
// server lists the same errors in varying order; the plugin's output must
// not vary, and any one order is one admission could have printed.
func byField(errs field.ErrorList) field.ErrorList {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}

// hasBlockingErr mirrors the API server's rule for skipping CEL validation.
func hasBlockingErr(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}

func nameOf(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return name
}

// IsInvalidProfile reports whether err is, or wraps, an InvalidProfileError.
func IsInvalidProfile(err error) bool {
	var invalid *InvalidProfileError
	return errors.As(err, &invalid)
}
