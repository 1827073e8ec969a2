package main

import (
	"bytes"
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// TemplateJSON renders the stack's CloudFormation template as indented JSON
// with sorted keys and a trailing newline. The stack has no assets and the
// synthesizer adds no bootstrap rule or version metadata, so the bytes
// depend only on the code: the committed flotilla.template.json is compared
// with them by the staleness test.
func TemplateJSON(stack awscdk.Stack) ([]byte, error) {
	tmpl := assertions.Template_FromStack(stack, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: b(false)}).ToJSON()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tmpl); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
