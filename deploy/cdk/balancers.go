package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	elb "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
)

// routeHeader is the header each CloudFront origin sets to pick its target
// group on the ALB's single listener. It is a routing hint, not
// authentication: the ALB's security group already admits only CloudFront,
// and the services authenticate their own callers.
const routeHeader = "X-Flotilla-Route"

// httpService is one of the three HTTP services behind the ALB.
type httpService struct {
	name, route string // route: value of routeHeader
	port        float64
	tg          elb.CfnTargetGroup
}

// balancers: one ALB for the HTTP services (fronted by CloudFront, but for
// the registry's own listener), one NLB per node for its libp2p swarm port.
type balancers struct {
	alb      elb.CfnLoadBalancer
	listener elb.CfnListener
	rules    []elb.CfnListenerRule
	http     []*httpService
	nlbs     []elb.CfnLoadBalancer
	swarm    []elb.CfnTargetGroup
	swarmL   []elb.CfnListener
	// The registry's target group and listener exist under c.registry
	// only; registryAttached always does, created after the listener
	// when there is one, for the services to wait on.
	registry         elb.CfnTargetGroup
	registryListener elb.CfnListener
	registryAttached awscdk.CfnResource
}

// httpTargetGroup holds all three nodes' tasks on port. Health is /ready on
// the ops port: a node that lost the cluster leader, or whose disk hangs,
// gets no traffic.
func httpTargetGroup(f *FlotillaStack, id string, port float64) elb.CfnTargetGroup {
	return elb.NewCfnTargetGroup(f.stack, s(id), &elb.CfnTargetGroupProps{
		VpcId: f.net.vpc.Ref(), TargetType: s("ip"), Protocol: s("HTTP"), Port: n(port),
		HealthCheckEnabled: b(true), HealthCheckProtocol: s("HTTP"), HealthCheckPath: s("/ready"),
		HealthCheckPort: s("9090"), HealthyThresholdCount: n(2), UnhealthyThresholdCount: n(3),
		HealthCheckIntervalSeconds: n(10), HealthCheckTimeoutSeconds: n(5),
		Matcher: &elb.CfnTargetGroup_MatcherProperty{HttpCode: s("200")},
		TargetGroupAttributes: &[]interface{}{
			&elb.CfnTargetGroup_TargetGroupAttributeProperty{Key: s("deregistration_delay.timeout_seconds"), Value: s("30")},
		},
	})
}

func newBalancers(f *FlotillaStack) balancers {
	var lb balancers
	var publicSubnets []interface{}
	for _, sn := range f.net.public {
		publicSubnets = append(publicSubnets, sn.Ref())
	}
	// Internet-facing (CloudFront's origin must have a public name) but
	// its security group admits only CloudFront's origin-facing addresses.
	lb.alb = elb.NewCfnLoadBalancer(f.stack, s("Alb"), &elb.CfnLoadBalancerProps{
		Type: s("application"), Scheme: s("internet-facing"), Subnets: &publicSubnets,
		SecurityGroups: &[]interface{}{f.sg.alb.AttrGroupId()},
		LoadBalancerAttributes: &[]interface{}{
			// Large uploads through the REST API's /add take a while.
			&elb.CfnLoadBalancer_LoadBalancerAttributeProperty{Key: s("idle_timeout.timeout_seconds"), Value: s("300")},
			&elb.CfnLoadBalancer_LoadBalancerAttributeProperty{Key: s("routing.http.drop_invalid_header_fields.enabled"), Value: s("true")},
		},
	})

	// One listener: 443 with the origin certificate, 80 without. The
	// three services share it, told apart by routeHeader (CloudFront sets
	// it per origin): both the REST API and the Pinning Service API have
	// /pins routes, so they cannot share a path space.
	lb.listener = elb.NewCfnListener(f.stack, s("AlbListener"), &elb.CfnListenerProps{
		LoadBalancerArn: lb.alb.Ref(),
		Port:            awscdk.Token_AsNumber(ifAny(f.c.hasCert, 443, 80)),
		Protocol:        ifStr(f.c.hasCert, "HTTPS", "HTTP"),
		Certificates: ifAny(f.c.hasCert,
			[]interface{}{map[string]interface{}{"CertificateArn": f.p.originCertARN.ValueAsString()}}, noValue()),
		SslPolicy: ifStr(f.c.hasCert, "ELBSecurityPolicy-TLS13-1-2-2021-06", noValue()),
		DefaultActions: &[]interface{}{&elb.CfnListener_ActionProperty{
			Type: s("fixed-response"),
			FixedResponseConfig: &elb.CfnListener_FixedResponseConfigProperty{
				StatusCode: s("404"), ContentType: s("text/plain"), MessageBody: s("no route: reach flotilla through its CloudFront distributions"),
			},
		}},
	})

	lb.http = []*httpService{
		{name: "Gateway", route: "gateway", port: gatewayPort},
		{name: "Api", route: "api", port: apiPort},
		{name: "PinSvc", route: "pinsvc", port: pinsvcPort},
	}
	for i, hs := range lb.http {
		hs.tg = httpTargetGroup(f, hs.name+"TargetGroup", hs.port)
		lb.rules = append(lb.rules, elb.NewCfnListenerRule(f.stack, s(hs.name+"Route"), &elb.CfnListenerRuleProps{
			ListenerArn: lb.listener.Ref(), Priority: n(float64(10 * (i + 1))),
			Conditions: &[]interface{}{&elb.CfnListenerRule_RuleConditionProperty{
				Field: s("http-header"),
				HttpHeaderConfig: &elb.CfnListenerRule_HttpHeaderConfigProperty{
					HttpHeaderName: s(routeHeader), Values: &[]*string{s(hs.route)},
				},
			}},
			Actions: &[]interface{}{&elb.CfnListenerRule_ActionProperty{Type: s("forward"), TargetGroupArn: hs.tg.Ref()}},
		}))
	}

	// The OCI registry: a listener of its own, 5000 over HTTPS, which
	// docker reaches directly, not through CloudFront: a push waits on
	// imports and replication longer than CloudFront waits for an origin
	// (60 s here), and every request carries Authorization, so CloudFront
	// would cache nothing; the part worth caching, layers, is already
	// served cached by the gateway distribution as /ipfs/<cid>
	// (docs/deployment.md, "The registry"). docker insists on TLS beyond
	// loopback, so the listener exists only with a certificate: the
	// registry is OriginDomainName:5000. Plain round robin, no
	// stickiness (docker keeps no cookies): a node that gets a request
	// of another node's upload hands it to that node over the cluster
	// port, which the tasks' group already opens between them.
	lb.registry = httpTargetGroup(f, "RegistryTargetGroup", registryPort)
	lb.registry.CfnOptions().SetCondition(f.c.registry)
	lb.registryListener = elb.NewCfnListener(f.stack, s("RegistryListener"), &elb.CfnListenerProps{
		LoadBalancerArn: lb.alb.Ref(), Port: n(registryPort), Protocol: s("HTTPS"),
		Certificates:   &[]interface{}{&elb.CfnListener_CertificateProperty{CertificateArn: f.p.originCertARN.ValueAsString()}},
		SslPolicy:      s("ELBSecurityPolicy-TLS13-1-2-2021-06"),
		DefaultActions: &[]interface{}{&elb.CfnListener_ActionProperty{Type: s("forward"), TargetGroupArn: lb.registry.Ref()}},
	})
	lb.registryListener.CfnOptions().SetCondition(f.c.registry)
	// ECS refuses a target group not attached to a load balancer, and a
	// DependsOn cannot be conditional: the services depend on this
	// handle, which refers to the listener when there is one.
	lb.registryAttached = awscdk.NewCfnResource(f.stack, s("RegistryAttached"), &awscdk.CfnResourceProps{Type: s("AWS::CloudFormation::WaitConditionHandle")})
	lb.registryAttached.AddMetadata(s("Listener"), ifAny(f.c.registry, lb.registryListener.Ref(), noValue()))

	// Swarm: libp2p dials a peer ID at an address, so every node needs its
	// own public endpoint: an NLB per node, in that node's AZ, forwarding
	// 4001 TCP and UDP (QUIC) to that node's task only. The task announces
	// the NLB's name (FLOTILLA_SWARM_ANNOUNCE).
	for i, z := range f.zs {
		nlb := elb.NewCfnLoadBalancer(f.stack, s(z.id("SwarmNlb")), &elb.CfnLoadBalancerProps{
			Type: s("network"), Scheme: s("internet-facing"), Subnets: &[]interface{}{f.net.public[i].Ref()},
			// No security group: clients' addresses reach the task, whose
			// group admits 4001 from anywhere (and nothing else from outside).
		})
		tg := elb.NewCfnTargetGroup(f.stack, s(z.id("SwarmTargetGroup")), &elb.CfnTargetGroupProps{
			VpcId: f.net.vpc.Ref(), TargetType: s("ip"), Protocol: s("TCP_UDP"), Port: n(swarmPort),
			HealthCheckEnabled: b(true), HealthCheckProtocol: s("TCP"), HealthCheckPort: s("traffic-port"),
			HealthCheckIntervalSeconds: n(10), HealthyThresholdCount: n(2), UnhealthyThresholdCount: n(2),
			TargetGroupAttributes: &[]interface{}{
				// Peers see the real remote address (always on for UDP).
				&elb.CfnTargetGroup_TargetGroupAttributeProperty{Key: s("preserve_client_ip.enabled"), Value: s("true")},
				&elb.CfnTargetGroup_TargetGroupAttributeProperty{Key: s("deregistration_delay.timeout_seconds"), Value: s("30")},
			},
		})
		l := elb.NewCfnListener(f.stack, s(z.id("SwarmListener")), &elb.CfnListenerProps{
			LoadBalancerArn: nlb.Ref(), Port: n(swarmPort), Protocol: s("TCP_UDP"),
			DefaultActions: &[]interface{}{&elb.CfnListener_ActionProperty{Type: s("forward"), TargetGroupArn: tg.Ref()}},
		})
		lb.nlbs = append(lb.nlbs, nlb)
		lb.swarm = append(lb.swarm, tg)
		lb.swarmL = append(lb.swarmL, l)
	}
	return lb
}

// prefixListLookup finds the ID of CloudFront's origin-facing managed prefix
// list, which differs per region and which CloudFormation cannot look up
// natively. A tiny inline Lambda (no asset: the template stays plain
// CloudFormation) calls ec2:DescribeManagedPrefixLists once at deploy time.
const prefixListLookup = `import boto3, cfnresponse

def handler(event, context):
    pid = event.get("PhysicalResourceId", "cloudfront-prefix-list")
    try:
        if event["RequestType"] == "Delete":
            cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, pid)
            return
        name = event["ResourceProperties"]["PrefixListName"]
        lists = boto3.client("ec2").describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [name]}])["PrefixLists"]
        if not lists:
            raise Exception("no managed prefix list named " + name)
        pid = lists[0]["PrefixListId"]
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {"PrefixListId": pid}, pid)
    except Exception as e:
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, pid, reason=str(e))
`

func cloudFrontPrefixList(f *FlotillaStack) *string {
	role := awsiam.NewCfnRole(f.stack, s("PrefixListLookupRole"), &awsiam.CfnRoleProps{
		AssumeRolePolicyDocument: map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{map[string]interface{}{
				"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]interface{}{"Service": "lambda.amazonaws.com"},
			}},
		},
		ManagedPolicyArns: &[]interface{}{awscdk.Fn_Sub(s("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"), nil)},
		Policies: &[]interface{}{&awsiam.CfnRole_PolicyProperty{
			PolicyName: s("describe-managed-prefix-lists"),
			PolicyDocument: map[string]interface{}{
				"Version": "2012-10-17",
				// DescribeManagedPrefixLists has no resource-level permissions.
				"Statement": []interface{}{map[string]interface{}{"Effect": "Allow", "Action": "ec2:DescribeManagedPrefixLists", "Resource": "*"}},
			},
		}},
	})
	fn := awslambda.NewCfnFunction(f.stack, s("PrefixListLookup"), &awslambda.CfnFunctionProps{
		Runtime: s("python3.12"), Handler: s("index.handler"), Timeout: n(60), MemorySize: n(128),
		Role: role.AttrArn(), Code: &awslambda.CfnFunction_CodeProperty{ZipFile: s(prefixListLookup)},
		Description: s("Looks up the CloudFront origin-facing managed prefix list for the ALB's security group"),
	})
	cr := awscdk.NewCfnResource(f.stack, s("CloudFrontPrefixList"), &awscdk.CfnResourceProps{
		Type: s("Custom::CloudFrontPrefixList"),
		Properties: &map[string]interface{}{
			"ServiceToken":   fn.AttrArn(),
			"PrefixListName": "com.amazonaws.global.cloudfront.origin-facing",
		},
	})
	return cr.GetAtt(s("PrefixListId"), awscdk.ResolutionTypeHint_STRING).ToString()
}
