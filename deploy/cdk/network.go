package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
)

// network is a VPC over three AZs: a public subnet per AZ for the load
// balancers and NAT, a private subnet per AZ for that AZ's task.
type network struct {
	vpc     awsec2.CfnVPC
	public  []awsec2.CfnSubnet
	private []awsec2.CfnSubnet
}

// newNetwork is written with L1 resources on purpose: the L2 Vpc of an
// environment-agnostic stack only spans two AZs, and the number of NAT
// gateways must be a parameter.
func newNetwork(f *FlotillaStack) network {
	var nw network
	nw.vpc = awsec2.NewCfnVPC(f.stack, s("Vpc"), &awsec2.CfnVPCProps{
		CidrBlock: f.p.vpcCIDR.ValueAsString(), EnableDnsHostnames: b(true), EnableDnsSupport: b(true), // Cloud Map private DNS needs both
		Tags: &[]*awscdk.CfnTag{{Key: s("Name"), Value: awscdk.Aws_STACK_NAME()}},
	})
	igw := awsec2.NewCfnInternetGateway(f.stack, s("InternetGateway"), nil)
	attach := awsec2.NewCfnVPCGatewayAttachment(f.stack, s("InternetGatewayAttachment"), &awsec2.CfnVPCGatewayAttachmentProps{
		VpcId: nw.vpc.Ref(), InternetGatewayId: igw.Ref(),
	})
	publicRT := awsec2.NewCfnRouteTable(f.stack, s("PublicRouteTable"), &awsec2.CfnRouteTableProps{VpcId: nw.vpc.Ref()})
	defaultRoute := awsec2.NewCfnRoute(f.stack, s("PublicDefaultRoute"), &awsec2.CfnRouteProps{
		RouteTableId: publicRT.Ref(), DestinationCidrBlock: s("0.0.0.0/0"), GatewayId: igw.Ref(),
	})
	defaultRoute.AddResourceDependency(attach, s("the route needs the gateway attached"))

	// Six /20s of the VPC CIDR: 0-2 public, 3-5 private.
	cidrs := awscdk.Fn_Cidr(f.p.vpcCIDR.ValueAsString(), n(6), s("12"))
	var nats []awsec2.CfnNatGateway
	var privateRTs []interface{}
	for _, z := range f.zs {
		pub := awsec2.NewCfnSubnet(f.stack, s(z.id("PublicSubnet")), &awsec2.CfnSubnetProps{
			VpcId: nw.vpc.Ref(), AvailabilityZone: z.az, CidrBlock: awscdk.Fn_Select(n(float64(z.index)), cidrs),
			MapPublicIpOnLaunch: b(false), // only the NLBs, ALB and NAT live here, with their own addresses
			Tags:                &[]*awscdk.CfnTag{{Key: s("Name"), Value: awscdk.Fn_Join(s("-"), &[]*string{awscdk.Aws_STACK_NAME(), s("public-" + z.letter)})}},
		})
		awsec2.NewCfnSubnetRouteTableAssociation(f.stack, s(z.id("PublicSubnetRoutes")), &awsec2.CfnSubnetRouteTableAssociationProps{
			SubnetId: pub.Ref(), RouteTableId: publicRT.Ref(),
		})
		nw.public = append(nw.public, pub)

		// NAT: the tasks pull the image, reach Secrets Manager, CloudWatch
		// and IPFS peers through it. Zone a's is always there; b's and c's
		// only with NatGateways=3.
		eip := awsec2.NewCfnEIP(f.stack, s(z.id("NatAddress")), &awsec2.CfnEIPProps{Domain: s("vpc")})
		nat := awsec2.NewCfnNatGateway(f.stack, s(z.id("NatGateway")), &awsec2.CfnNatGatewayProps{
			SubnetId: pub.Ref(), AllocationId: eip.AttrAllocationId(),
		})
		if z.index > 0 {
			eip.CfnOptions().SetCondition(f.c.threeNats)
			nat.CfnOptions().SetCondition(f.c.threeNats)
		}
		nat.AddResourceDependency(defaultRoute, s("a NAT gateway needs its subnet to reach the internet"))
		nats = append(nats, nat)

		priv := awsec2.NewCfnSubnet(f.stack, s(z.id("PrivateSubnet")), &awsec2.CfnSubnetProps{
			VpcId: nw.vpc.Ref(), AvailabilityZone: z.az, CidrBlock: awscdk.Fn_Select(n(float64(3+z.index)), cidrs),
			Tags: &[]*awscdk.CfnTag{{Key: s("Name"), Value: awscdk.Fn_Join(s("-"), &[]*string{awscdk.Aws_STACK_NAME(), s("private-" + z.letter)})}},
		})
		rt := awsec2.NewCfnRouteTable(f.stack, s(z.id("PrivateRouteTable")), &awsec2.CfnRouteTableProps{VpcId: nw.vpc.Ref()})
		natID := nats[0].Ref()
		if z.index > 0 {
			natID = ifStr(f.c.threeNats, nat.Ref(), nats[0].Ref())
		}
		awsec2.NewCfnRoute(f.stack, s(z.id("PrivateDefaultRoute")), &awsec2.CfnRouteProps{
			RouteTableId: rt.Ref(), DestinationCidrBlock: s("0.0.0.0/0"), NatGatewayId: natID,
		})
		awsec2.NewCfnSubnetRouteTableAssociation(f.stack, s(z.id("PrivateSubnetRoutes")), &awsec2.CfnSubnetRouteTableAssociationProps{
			SubnetId: priv.Ref(), RouteTableId: rt.Ref(),
		})
		nw.private = append(nw.private, priv)
		privateRTs = append(privateRTs, rt.Ref())
	}

	// With Storage=s3 the tasks read and write their bucket all the time:
	// a gateway endpoint (no charge) takes that traffic off the NAT
	// gateway, which bills every GB it carries. Its policy is the default
	// (the task roles are what limit access), so that image layers, which
	// ECR serves from S3, may take it too.
	s3e := awsec2.NewCfnVPCEndpoint(f.stack, s("S3GatewayEndpoint"), &awsec2.CfnVPCEndpointProps{
		VpcId: nw.vpc.Ref(), VpcEndpointType: s("Gateway"),
		ServiceName:   awscdk.Fn_Sub(s("com.amazonaws.${AWS::Region}.s3"), nil),
		RouteTableIds: &privateRTs,
	})
	s3e.CfnOptions().SetCondition(f.c.s3)
	return nw
}

// securityGroups: the tasks', the ALB's and EFS's. The only rule open to
// the internet is the swarm port on the tasks, and, as RegistryCidr says,
// the registry's HTTPS listener on the ALB.
type securityGroups struct {
	tasks, alb, efs awsec2.CfnSecurityGroup
}

func newSecurityGroups(f *FlotillaStack) securityGroups {
	var g securityGroups
	vpc := f.net.vpc.Ref()
	// Tasks: libp2p swarm from anywhere (the NLBs preserve client
	// addresses, so the rule must name the clients, not the NLBs).
	var swarm []interface{}
	for _, cidr := range []string{"0.0.0.0/0", "::/0"} {
		for _, proto := range []string{"tcp", "udp"} {
			r := &awsec2.CfnSecurityGroup_IngressProperty{IpProtocol: s(proto), FromPort: n(swarmPort), ToPort: n(swarmPort), Description: s("libp2p swarm (" + proto + ") via the node's NLB")}
			if cidr == "::/0" {
				r.CidrIpv6 = s(cidr)
			} else {
				r.CidrIp = s(cidr)
			}
			swarm = append(swarm, r)
		}
	}
	g.tasks = awsec2.NewCfnSecurityGroup(f.stack, s("TaskSecurityGroup"), &awsec2.CfnSecurityGroupProps{
		VpcId: vpc, GroupDescription: s("flotilla tasks: swarm from anywhere, cluster port from peers, HTTP from the ALB"),
		SecurityGroupIngress: &swarm,
		// Egress stays open: image pulls, AWS APIs and IPFS peers anywhere.
	})
	// Raft and peer RPC only between the tasks themselves.
	awsec2.NewCfnSecurityGroupIngress(f.stack, s("TaskClusterFromPeers"), &awsec2.CfnSecurityGroupIngressProps{
		GroupId: g.tasks.AttrGroupId(), SourceSecurityGroupId: g.tasks.AttrGroupId(), IpProtocol: s("tcp"),
		FromPort: n(clusterPort), ToPort: n(clusterPort), Description: s("cluster port (raft, peer RPC) between peers"),
	})

	// ALB: reachable only from CloudFront's origin-facing addresses, on the
	// one listener port (80, or 443 with a certificate). One rule only:
	// the managed prefix list weighs ~55 rules against the SG quota of 60.
	listenerPort := awscdk.Token_AsNumber(ifAny(f.c.hasCert, 443, 80))
	g.alb = awsec2.NewCfnSecurityGroup(f.stack, s("AlbSecurityGroup"), &awsec2.CfnSecurityGroupProps{
		VpcId: vpc, GroupDescription: s("flotilla ALB: CloudFront origin-facing only"),
		SecurityGroupIngress: &[]interface{}{&awsec2.CfnSecurityGroup_IngressProperty{
			IpProtocol: s("tcp"), FromPort: listenerPort, ToPort: listenerPort,
			SourcePrefixListId: cloudFrontPrefixList(f), Description: s("CloudFront origin-facing (com.amazonaws.global.cloudfront.origin-facing)"),
		}},
		// Egress only to the tasks' HTTP ports (the rules below).
		SecurityGroupEgress: &[]interface{}{&awsec2.CfnSecurityGroup_EgressProperty{
			IpProtocol: s("icmp"), FromPort: n(252), ToPort: n(86), CidrIp: s("255.255.255.255/32"), Description: s("no other egress"),
		}},
	})
	for _, port := range []struct {
		p    float64
		name string
	}{{gatewayPort, "Gateway"}, {apiPort, "Api"}, {pinsvcPort, "PinSvc"}, {opsPort, "Ops"}, {registryPort, "Registry"}} {
		awsec2.NewCfnSecurityGroupIngress(f.stack, s("Task"+port.name+"FromAlb"), &awsec2.CfnSecurityGroupIngressProps{
			GroupId: g.tasks.AttrGroupId(), SourceSecurityGroupId: g.alb.AttrGroupId(), IpProtocol: s("tcp"),
			FromPort: n(port.p), ToPort: n(port.p), Description: s(port.name + " from the ALB"),
		})
		awsec2.NewCfnSecurityGroupEgress(f.stack, s("Alb"+port.name+"ToTasks"), &awsec2.CfnSecurityGroupEgressProps{
			GroupId: g.alb.AttrGroupId(), DestinationSecurityGroupId: g.tasks.AttrGroupId(), IpProtocol: s("tcp"),
			FromPort: n(port.p), ToPort: n(port.p), Description: s(port.name + " to the tasks"),
		})
	}

	// The registry's listener (5000, HTTPS, balancers.go) admits docker
	// clients from RegistryCidr directly: the one rule of this group that
	// is not CloudFront's (56 rules of the 60 a group may weigh).
	registry := awsec2.NewCfnSecurityGroupIngress(f.stack, s("AlbRegistryFromClients"), &awsec2.CfnSecurityGroupIngressProps{
		GroupId: g.alb.AttrGroupId(), IpProtocol: s("tcp"), FromPort: n(registryPort), ToPort: n(registryPort),
		CidrIp: f.p.registryCIDR.ValueAsString(), Description: s("OCI registry (HTTPS) from RegistryCidr"),
	})
	registry.CfnOptions().SetCondition(f.c.registry)

	// EFS: NFS from the tasks only.
	g.efs = awsec2.NewCfnSecurityGroup(f.stack, s("EfsSecurityGroup"), &awsec2.CfnSecurityGroupProps{
		VpcId: vpc, GroupDescription: s("flotilla EFS: NFS from the tasks only"),
		SecurityGroupIngress: &[]interface{}{&awsec2.CfnSecurityGroup_IngressProperty{
			IpProtocol: s("tcp"), FromPort: n(2049), ToPort: n(2049), SourceSecurityGroupId: g.tasks.AttrGroupId(), Description: s("NFS from the tasks"),
		}},
		SecurityGroupEgress: &[]interface{}{&awsec2.CfnSecurityGroup_EgressProperty{
			IpProtocol: s("icmp"), FromPort: n(252), ToPort: n(86), CidrIp: s("255.255.255.255/32"), Description: s("no egress"),
		}},
	})
	return g
}
