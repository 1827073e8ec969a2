// Command cdk is the AWS deployment of flotilla: three Fargate tasks, one per
// availability zone, that form one IPFS storage cluster, behind a swarm NLB
// per node, an ALB for the HTTP services and two CloudFront distributions
// (a cached public gateway and an uncached admin API).
//
// The stack is written so that its synthesized template is a plain
// CloudFormation template: every runtime choice (storage, architecture,
// NAT gateways, the origin certificate, the rollout order) is a parameter
// and a CloudFormation condition, never a Go if-statement, and the template
// has no assets, so `aws cloudformation deploy` works on it as well as
// `cdk deploy`.
//
// Usage:
//
//	go run .                                  # cdk.out/ (what `cdk synth` runs)
//	FLOTILLA_CDK_OUT=flotilla.template.json go run .   # the committed template
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// stackName is the construct id of the stack; the deployed stack's name is
// whatever `cdk deploy` or `aws cloudformation deploy --stack-name` says.
const stackName = "Flotilla"

func main() {
	// `cdk synth` says where to write (CDK_OUTDIR); a bare `go run .`
	// writes ./cdk.out like it.
	var outdir *string
	if os.Getenv("CDK_OUTDIR") == "" {
		outdir = s("cdk.out")
	}
	app := newApp(outdir)
	stack := NewFlotillaStack(app, stackName)
	if out := os.Getenv("FLOTILLA_CDK_OUT"); out != "" {
		body, err := TemplateJSON(stack.stack)
		if err == nil {
			err = os.WriteFile(out, body, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "flotilla cdk:", err)
			os.Exit(1)
		}
		return
	}
	app.Synth(nil)
}

// newApp is the CDK app, with CDK's built-in CloudFormation validation
// (the cfn-lint-like default rules) turned from warnings into errors, so a
// template CloudFormation would reject fails at synth.
func newApp(outdir *string) awscdk.App {
	return awscdk.NewApp(&awscdk.AppProps{
		Outdir: outdir,
		Context: &map[string]interface{}{
			"@aws-cdk/core:validateAgainstDefaultRules": true,
			"aws:cdk:version-reporting":                 false,
		},
	})
}

// s and n keep jsii's pointer plumbing out of the way.
func s(v string) *string   { return jsii.String(v) }
func n(v float64) *float64 { return jsii.Number(v) }
func b(v bool) *bool       { return jsii.Bool(v) }
