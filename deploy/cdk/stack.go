package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
)

// zone is one availability zone and the flotilla node that lives in it.
// Everything per node is built in a loop over zones(), never copied.
type zone struct {
	index  int    // position in Fn::GetAZs
	letter string // a, b, c: names resources, peers and EFS directories
	az     *string
}

// Peer is the node's name in the cluster and in resource ids.
func (z zone) Peer() string { return "node-" + z.letter }

// id turns a base into a per-node construct id: id("Service") = "ServiceA".
func (z zone) id(base string) string { return base + string(z.letter[0]-'a'+'A') }

// zones are the first three AZs of the region. FLOTILLA_BOOTSTRAP_EXPECT is 3
// and raft needs two of the three for quorum, so losing one AZ keeps the
// cluster writable.
func zones() []zone {
	var zs []zone
	for i, l := range []string{"a", "b", "c"} {
		zs = append(zs, zone{index: i, letter: l, az: awscdk.Fn_Select(n(float64(i)), awscdk.Fn_GetAzs(s("")))})
	}
	return zs
}

// Container ports of `flotilla daemon` (see the image's ENV and the daemon
// flags). Kubo RPC (5001) is bound to loopback and has no port here.
const (
	swarmPort   = 4001 // libp2p TCP and QUIC (UDP): the only internet-facing port
	gatewayPort = 8080
	apiPort     = 9094 // IPFS Cluster REST API
	pinsvcPort  = 9097 // IPFS Pinning Service API
	opsPort     = 9090 // /health, /ready, /metrics
	clusterPort = 9096 // raft + peer RPC, TLS with the cluster secret
	// The OCI registry: an HTTPS listener of its own on the ALB, reached
	// by docker directly rather than through CloudFront (balancers.go).
	registryPort = 5000
)

// FlotillaStack holds what the per-concern functions hand each other.
type FlotillaStack struct {
	stack awscdk.Stack
	p     params
	c     conds
	zs    []zone
	net   network
	sg    securityGroups
	disc  discovery
	sec   secrets
	lb    balancers
	cdn   distributions
	svc   []service
	// bucket holds the blocks with Storage=s3, a conditional resource:
	// refer to it only under c.s3. Built with the task roles by newServices.
	bucket awss3.CfnBucket
}

// NewFlotillaStack lays out the deployment, one concern per function, in
// the order the resources depend on each other.
func NewFlotillaStack(scope constructs.Construct, id string) *FlotillaStack {
	stack := awscdk.NewStack(scope, s(id), &awscdk.StackProps{
		Description: s("flotilla: a three-zone IPFS storage cluster on ECS Fargate, behind CloudFront"),
		// No BootstrapVersion parameter or rule: the template has no assets,
		// so it deploys with or without `cdk bootstrap`.
		Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
			GenerateBootstrapVersionRule: b(false),
		}),
		AnalyticsReporting: b(false),
	})
	f := &FlotillaStack{stack: stack, zs: zones()}
	f.p = newParams(stack)
	f.c = newConds(stack, f.p)
	f.net = newNetwork(f)
	f.sg = newSecurityGroups(f)
	f.disc = newDiscovery(f)
	f.sec = newSecrets(f)
	f.lb = newBalancers(f)
	f.cdn = newDistributions(f)
	f.svc = newServices(f) // storage is per task role, so services build it
	newObservability(f)
	newOutputs(f)
	return f
}
