package smoke

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"gopkg.in/yaml.v3"
)

// Deployed is what a Lambda deployment shifts its alias between: the one
// AWS::Lambda::Function resource of its AppSpec
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html).
type Deployed struct {
	Function       string // the function's name, unqualified
	Alias          string
	CurrentVersion string
	TargetVersion  string // the version the alias moves to: the one to test
}

// lambdaFunctionARN is an unqualified function ARN; an AppSpec may name the
// function by ARN instead of by name.
var lambdaFunctionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:([A-Za-z0-9_-]{1,64})$`)

// functionName is an unqualified function name: no alias, no version.
var functionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// publishedVersion is a published version number: an alias or $LATEST
// would smoke-test something other than what the alias moves to.
var publishedVersion = regexp.MustCompile(`^[0-9]{1,10}$`)

// scalar is an AppSpec value written as a string or a number
// (TargetVersion: 21 and TargetVersion: "21" mean the same).
type scalar string

func (s *scalar) UnmarshalJSON(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*s = scalar(v)
	case json.Number:
		*s = scalar(v)
	default:
		return fmt.Errorf("want a string or a number, got %T", v)
	}
	return nil
}

func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a string or a number", n.Line)
	}
	*s = scalar(n.Value)
	return nil
}

// appSpecFile is the part of a Lambda AppSpec the hook reads. The tags
// keep the keys case-sensitive in YAML; encoding/json ignores case, which
// the exact checks in ParseAppSpec make harmless.
type appSpecFile struct {
	Resources []map[string]appSpecResource `json:"Resources" yaml:"Resources"`
}

type appSpecResource struct {
	Type       scalar `json:"Type" yaml:"Type"`
	Properties struct {
		Name           scalar `json:"Name" yaml:"Name"`
		Alias          scalar `json:"Alias" yaml:"Alias"`
		CurrentVersion scalar `json:"CurrentVersion" yaml:"CurrentVersion"`
		TargetVersion  scalar `json:"TargetVersion" yaml:"TargetVersion"`
	} `json:"Properties" yaml:"Properties"`
}

// ParseAppSpec reads the function and versions of a Lambda deployment
// from its AppSpec, JSON or YAML. A Lambda AppSpec has exactly one
// resource; anything else is an error, never a guess.
func ParseAppSpec(content string) (Deployed, error) {
	var f appSpecFile
	err := yaml.Unmarshal([]byte(content), &f)
	if strings.HasPrefix(strings.TrimSpace(content), "{") {
		// JSON may indent with tabs, which YAML refuses; a YAML flow
		// mapping is no JSON. Either reading will do.
		var j appSpecFile
		if jerr := json.Unmarshal([]byte(content), &j); jerr == nil {
			f, err = j, nil
		} else if err != nil {
			err = jerr
		}
	}
	if err != nil {
		return Deployed{}, fmt.Errorf("AppSpec is neither JSON nor YAML of the expected shape: %w", err)
	}
	n := 0
	for _, r := range f.Resources {
		n += len(r)
	}
	if n != 1 || len(f.Resources) != 1 {
		return Deployed{}, fmt.Errorf("AppSpec has %d resources, want one Lambda function", n)
	}
	var key string
	var r appSpecResource
	for k, v := range f.Resources[0] {
		key, r = k, v
	}
	if r.Type != "AWS::Lambda::Function" {
		return Deployed{}, fmt.Errorf("AppSpec resource %q has Type %q, want AWS::Lambda::Function", key, r.Type)
	}
	p := r.Properties
	d := Deployed{Function: string(p.Name), Alias: string(p.Alias), CurrentVersion: string(p.CurrentVersion), TargetVersion: string(p.TargetVersion)}
	if m := lambdaFunctionARN.FindStringSubmatch(d.Function); m != nil {
		d.Function = m[1]
	}
	var errs []error
	if !functionName.MatchString(d.Function) {
		errs = append(errs, fmt.Errorf("AppSpec resource %q: Name %q is not a function name or unqualified function ARN", key, p.Name))
	}
	if !publishedVersion.MatchString(d.TargetVersion) {
		errs = append(errs, fmt.Errorf("AppSpec resource %q: TargetVersion %q is not a published version", key, p.TargetVersion))
	}
	if err := errors.Join(errs...); err != nil {
		return Deployed{}, err
	}
	return d, nil
}

// revisionContent is the AppSpec a revision carries, in the current
// (appSpecContent) or the older (string) form; "" when it carries none.
func revisionContent(r *cdtypes.RevisionLocation) string {
	if r == nil {
		return ""
	}
	if r.AppSpecContent != nil && r.AppSpecContent.Content != nil {
		return *r.AppSpecContent.Content
	}
	//lint:ignore SA1019 a deployment made with the deprecated String revision type carries its AppSpec there
	raw := r.String_
	if raw != nil && raw.Content != nil {
		return *raw.Content
	}
	return ""
}
