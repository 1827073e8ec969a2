package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
)

// newObservability: an alarm per node and one dashboard. The alarms have
// no actions (no address to send to is known here); subscribe an SNS topic
// to them, or add AlarmActions, per installation.
func newObservability(f *FlotillaStack) {
	albName := f.lb.alb.AttrLoadBalancerFullName()
	gatewayTG := f.lb.http[0].tg.AttrTargetGroupFullName()
	healthy := func(z zone) cw.Metric {
		return cw.NewMetric(&cw.MetricProps{
			Namespace: s("AWS/ApplicationELB"), MetricName: s("HealthyHostCount"), Statistic: s("Minimum"),
			Period: awscdk.Duration_Minutes(n(1)), Label: s(z.Peer()),
			DimensionsMap: &map[string]*string{"LoadBalancer": albName, "TargetGroup": gatewayTG, "AvailabilityZone": z.az},
		})
	}
	// One alarm per node: its AZ has no healthy (/ready) target. Each AZ
	// holds exactly one node, so this is "node-x is down or out of the
	// cluster"; a missing task reports no data, which also alarms.
	var health []cw.IMetric
	for _, z := range f.zs {
		m := healthy(z)
		health = append(health, m)
		cw.NewAlarm(f.stack, s(z.id("NodeUnhealthy")), &cw.AlarmProps{
			AlarmDescription: awscdk.Fn_Sub(s("${AWS::StackName} "+z.Peer()+": no healthy (/ready) target in its zone for 3 minutes"), nil),
			Metric:           m, Threshold: n(1), EvaluationPeriods: n(3),
			ComparisonOperator: cw.ComparisonOperator_LESS_THAN_THRESHOLD,
			TreatMissingData:   cw.TreatMissingData_BREACHING,
		})
	}

	alb := func(metric, stat, label string) cw.IMetric {
		return cw.NewMetric(&cw.MetricProps{
			Namespace: s("AWS/ApplicationELB"), MetricName: s(metric), Statistic: s(stat), Label: s(label),
			Period: awscdk.Duration_Minutes(n(1)), DimensionsMap: &map[string]*string{"LoadBalancer": albName},
		})
	}
	var cpu, mem []cw.IMetric
	for _, sv := range f.svc {
		dims := &map[string]*string{"ClusterName": sv.svc.Cluster(), "ServiceName": sv.svc.AttrName()}
		cpu = append(cpu, cw.NewMetric(&cw.MetricProps{Namespace: s("AWS/ECS"), MetricName: s("CPUUtilization"), DimensionsMap: dims, Label: s(sv.z.Peer()), Period: awscdk.Duration_Minutes(n(1))}))
		mem = append(mem, cw.NewMetric(&cw.MetricProps{Namespace: s("AWS/ECS"), MetricName: s("MemoryUtilization"), DimensionsMap: dims, Label: s(sv.z.Peer()), Period: awscdk.Duration_Minutes(n(1))}))
	}
	dash := cw.NewDashboard(f.stack, s("Dashboard"), &cw.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(n(3)),
	})
	dash.AddWidgets(
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: s("Healthy (/ready) nodes per zone"), Left: &health, Width: n(12)}),
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: s("ALB requests and errors"), Width: n(12),
			Left:  &[]cw.IMetric{alb("RequestCount", "Sum", "requests")},
			Right: &[]cw.IMetric{alb("HTTPCode_Target_5XX_Count", "Sum", "target 5xx"), alb("HTTPCode_ELB_5XX_Count", "Sum", "ALB 5xx")}}),
	)
	dash.AddWidgets(
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: s("Task CPU %"), Left: &cpu, Width: n(8)}),
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: s("Task memory %"), Left: &mem, Width: n(8)}),
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: s("ALB target response time (p99)"), Width: n(8),
			Left: &[]cw.IMetric{alb("TargetResponseTime", "p99", "p99")}}),
	)
}

// newOutputs: where to point clients. Secret ARNs, never their values:
// read the admin password with
// `aws secretsmanager get-secret-value --secret-id <AdminPasswordSecretArn>`.
func newOutputs(f *FlotillaStack) {
	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(f.stack, s(id), &awscdk.CfnOutputProps{Description: s(desc), Value: v})
	}
	out("GatewayUrl", "Public IPFS gateway (cached by CloudFront): <url>/ipfs/<cid>",
		awscdk.Fn_Join(s(""), &[]*string{s("https://"), f.cdn.gateway.AttrDomainName()}))
	out("AdminApiUrl", "IPFS Cluster REST API (user admin, password in AdminPasswordSecretArn)",
		awscdk.Fn_Join(s(""), &[]*string{s("https://"), f.cdn.admin.AttrDomainName()}))
	out("PinningServiceUrl", "IPFS Pinning Service API endpoint",
		awscdk.Fn_Join(s(""), &[]*string{s("https://"), f.cdn.admin.AttrDomainName(), s("/pinning")}))
	out("ClusterSecretArn", "Secrets Manager ARN of the cluster secret", f.sec.cluster.SecretArn())
	out("AdminPasswordSecretArn", "Secrets Manager ARN of the admin credentials (JSON: username, password)", f.sec.admin.SecretArn())
	out("AlbDnsName", "The ALB's name: point OriginDomainName here when using OriginCertificateArn", f.lb.alb.AttrDnsName())
	for _, z := range f.zs {
		out(z.id("SwarmNlbDnsName"), "libp2p swarm endpoint of "+z.Peer()+" (4001 TCP and UDP/QUIC)", f.lb.nlbs[z.index].AttrDnsName())
	}
	awscdk.NewCfnOutput(f.stack, s("RegistryHost"), &awscdk.CfnOutputProps{
		Description: s("The OCI registry (HTTPS, admin credentials): docker login <host>, docker push <host>/app:v1"),
		Value:       awscdk.Fn_Join(s(""), &[]*string{f.p.originDomain.ValueAsString(), s(":5000")}), Condition: f.c.registry,
	})
	awscdk.NewCfnOutput(f.stack, s("BlocksBucketName"), &awscdk.CfnOutputProps{
		Description: s("Storage=s3: the bucket holding the blocks (prefix " + s3Prefix + "/), shared by the three nodes"),
		Value:       f.bucket.Ref(), Condition: f.c.s3,
	})
}
