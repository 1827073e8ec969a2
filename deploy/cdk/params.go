package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// params are the template's knobs. Defaults give a working, modest cluster;
// nothing secret is a parameter.
type params struct {
	imageURI, cpuArch, taskCPU, taskMemory, storage, namespace, vpcCIDR, natGateways,
	logRetention, originCertARN, originDomain, registryCIDR awscdk.CfnParameter
}

func newParams(stack awscdk.Stack) params {
	str := func(id, desc string, def *string, allowed ...string) awscdk.CfnParameter {
		p := &awscdk.CfnParameterProps{Type: s("String"), Description: s(desc), Default: def}
		if len(allowed) > 0 {
			var a []*string
			for _, v := range allowed {
				a = append(a, s(v))
			}
			p.AllowedValues = &a
		}
		return awscdk.NewCfnParameter(stack, s(id), p)
	}
	var p params
	p.imageURI = str("ImageUri", "The flotilla image (`make image`, pushed to ECR in this account and region), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/flotilla:v1.", nil)
	p.cpuArch = str("CpuArchitecture", "CPU architecture of the tasks; must match the image (make image builds for the machine it runs on). ARM64 (Graviton) costs about a fifth less.", s("X86_64"), "X86_64", "ARM64")
	p.taskCPU = str("TaskCpu", "Fargate task CPU units (1024 = 1 vCPU).", s("1024"), "1024", "2048", "4096", "8192", "16384")
	p.taskMemory = str("TaskMemory", "Fargate task memory in MiB; must be valid for TaskCpu.", s("4096"))
	p.storage = str("Storage", "efs-onezone: one EFS One Zone file system per node, in its AZ. efs-standard: one regional EFS, a directory per node. s3: the blocks in one encrypted S3 bucket that the three nodes share, each node's small data directory (identity, raft, pinset, pack index, read cache) on a One Zone EFS as with efs-onezone. Changing it on a running stack does not move the blocks.", s("efs-onezone"), "efs-onezone", "efs-standard", "s3")
	p.namespace = str("NamespaceName", "Cloud Map private DNS namespace; peers find each other at flotilla.<namespace>.", s("flotilla.internal"))
	p.vpcCIDR = str("VpcCidr", "CIDR of the new VPC (a /16 is carved into six /20 subnets).", s("10.40.0.0/16"))
	p.vpcCIDR.SetAllowedPattern(s(`^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])$`))
	p.natGateways = str("NatGateways", "1: one NAT gateway for all private subnets (cheaper; egress depends on one AZ). 3: one per AZ.", s("1"), "1", "3")
	p.logRetention = awscdk.NewCfnParameter(stack, s("LogRetentionDays"), &awscdk.CfnParameterProps{
		Type: s("Number"), Description: s("Days the CloudWatch log groups keep the daemons' logs."), Default: n(30),
		AllowedValues: &[]*string{s("1"), s("3"), s("5"), s("7"), s("14"), s("30"), s("60"), s("90"), s("120"), s("150"), s("180"), s("365"), s("400"), s("545"), s("731"), s("1096"), s("1827"), s("2192"), s("2557"), s("2922"), s("3288"), s("3653")},
	})
	p.originCertARN = str("OriginCertificateArn", "Optional ACM certificate (in this region) for OriginDomainName. Given: CloudFront reaches the ALB over HTTPS. Empty: over HTTP, inside AWS's network, the ALB admitting only CloudFront.", s(""))
	p.originDomain = str("OriginDomainName", "DNS name covered by OriginCertificateArn that you point (CNAME/alias) at the AlbDnsName output. Required with OriginCertificateArn.", s(""))

	p.registryCIDR = str("RegistryCidr", "Who reaches the OCI registry, https://<OriginDomainName>:5000 on the ALB (with OriginCertificateArn only: docker needs TLS): a CIDR, 0.0.0.0/0 for anyone (pushing still needs the admin credentials, pulling too), empty for no registry listener.", s("0.0.0.0/0"))
	p.registryCIDR.SetAllowedPattern(s(`^$|^(\d{1,3}\.){3}\d{1,3}/([0-9]|[1-2][0-9]|3[0-2])$`))

	// A certificate without the name it covers cannot work: fail early.
	awscdk.NewCfnRule(stack, s("OriginDomainWithCertificate"), &awscdk.CfnRuleProps{
		RuleCondition: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(p.originCertARN.ValueAsString(), s(""))),
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(p.originDomain.ValueAsString(), s(""))),
			AssertDescription: s("OriginDomainName is required when OriginCertificateArn is set"),
		}},
	})
	return p
}

// conds are the CloudFormation conditions the resources and properties
// switch on.
type conds struct {
	oneZone, standard, s3, hasCert, threeNats awscdk.CfnCondition
	// registry: the registry's listener exists (a certificate, and
	// RegistryCidr not empty).
	registry awscdk.CfnCondition
	// nodeFS: a One Zone file system per node, for efs-onezone and for
	// s3 (the data directory beside the bucket).
	nodeFS awscdk.CfnCondition
}

func newConds(stack awscdk.Stack, p params) conds {
	eq := func(id string, param awscdk.CfnParameter, v string) awscdk.CfnCondition {
		return awscdk.NewCfnCondition(stack, s(id), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionEquals(param.ValueAsString(), s(v)),
		})
	}
	c := conds{
		oneZone:   eq("StorageIsEfsOneZone", p.storage, "efs-onezone"),
		standard:  eq("StorageIsEfsStandard", p.storage, "efs-standard"),
		s3:        eq("StorageIsS3", p.storage, "s3"),
		threeNats: eq("NatGatewayPerZone", p.natGateways, "3"),
		hasCert: awscdk.NewCfnCondition(stack, s("OriginHasCertificate"), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(p.originCertARN.ValueAsString(), s(""))),
		}),
	}
	c.nodeFS = awscdk.NewCfnCondition(stack, s("NodeFileSystems"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionOr(c.oneZone, c.s3),
	})
	c.registry = awscdk.NewCfnCondition(stack, s("RegistryListens"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionAnd(c.hasCert, awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(p.registryCIDR.ValueAsString(), s("")))),
	})
	return c
}

// ifStr is Fn::If for a string-valued property.
func ifStr(c awscdk.CfnCondition, yes, no interface{}) *string {
	return awscdk.Token_AsString(awscdk.Fn_ConditionIf(c.LogicalId(), yes, no), nil)
}

// ifAny is Fn::If for any other property.
func ifAny(c awscdk.CfnCondition, yes, no interface{}) awscdk.ICfnRuleConditionExpression {
	return awscdk.Fn_ConditionIf(c.LogicalId(), yes, no)
}

// noValue is AWS::NoValue: the property is left out.
func noValue() *string { return awscdk.Aws_NO_VALUE() }
