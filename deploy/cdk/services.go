package main

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
)

// service is one node: an ECS service of one task in one AZ.
type service struct {
	z        zone
	svc      awsecs.CfnService
	logGroup awslogs.CfnLogGroup
}

// newServices runs one Fargate service per AZ, each with one task and one
// container (`flotilla daemon`, no sidecar) on its own data volume.
func newServices(f *FlotillaStack) []service {
	cluster := awsecs.NewCfnCluster(f.stack, s("Cluster"), &awsecs.CfnClusterProps{
		ClusterSettings: &[]interface{}{&awsecs.CfnCluster_ClusterSettingsProperty{Name: s("containerInsights"), Value: s("enabled")}},
	})

	// Task roles first: the file system policies name them.
	var roles []awsiam.Role
	for _, z := range f.zs {
		roles = append(roles, awsiam.NewRole(f.stack, s(z.id("TaskRole")), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(s("ecs-tasks.amazonaws.com"), nil),
			Description: s("flotilla " + z.Peer() + ": mount and write its own EFS access point and, with Storage=s3, the blocks bucket's " + s3Prefix + "/ prefix; nothing else"),
		}))
	}
	st := newStorage(f, roles)
	vols := st.vols
	f.bucket = st.bucket

	var svcs []service
	for _, z := range f.zs {
		role, vol := roles[z.index], vols[z.index]
		// Least privilege: the task may mount and write only through its
		// own access point (IAM authorization is on in the volume).
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    &[]*string{s("elasticfilesystem:ClientMount"), s("elasticfilesystem:ClientWrite")},
			Resources:  &[]*string{vol.fileSystemArn},
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"elasticfilesystem:AccessPointArn": vol.accessPoint}},
		}))

		logs := awslogs.NewCfnLogGroup(f.stack, s(z.id("LogGroup")), &awslogs.CfnLogGroupProps{
			RetentionInDays: f.p.logRetention.ValueAsNumber(),
		})

		td := awsecs.NewTaskDefinition(f.stack, s(z.id("TaskDefinition")), &awsecs.TaskDefinitionProps{
			Compatibility: awsecs.Compatibility_FARGATE, NetworkMode: awsecs.NetworkMode_AWS_VPC,
			Cpu: f.p.taskCPU.ValueAsString(), MemoryMiB: f.p.taskMemory.ValueAsString(),
			TaskRole: role,
		})
		// The architecture is a parameter; the L2 only takes constants.
		td.Node().DefaultChild().(awsecs.CfnTaskDefinition).AddPropertyOverride(s("RuntimePlatform"), map[string]interface{}{
			"CpuArchitecture": f.p.cpuArch.ValueAsString(), "OperatingSystemFamily": "LINUX",
		})
		td.AddVolume(&awsecs.Volume{
			Name: s("data"),
			EfsVolumeConfiguration: &awsecs.EfsVolumeConfiguration{
				FileSystemId: vol.fileSystemID, TransitEncryption: s("ENABLED"),
				AuthorizationConfig: &awsecs.AuthorizationConfig{AccessPointId: vol.accessPointID, Iam: s("ENABLED")},
			},
		})
		// Pulling from ECR: the token call has no resource scope; the
		// layer reads are limited to this account's repositories in this
		// region (where the README says to push the image).
		td.AddToExecutionRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: &[]*string{s("ecr:GetAuthorizationToken")}, Resources: &[]*string{s("*")},
		}))
		td.AddToExecutionRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   &[]*string{s("ecr:BatchCheckLayerAvailability"), s("ecr:GetDownloadUrlForLayer"), s("ecr:BatchGetImage")},
			Resources: &[]*string{awscdk.Fn_Sub(s("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"), nil)},
		}))

		nlbName := f.lb.nlbs[z.index].AttrDnsName()
		// The image runs `flotilla daemon` as 10001:10001 with
		// FLOTILLA_DATA=/data; these are the settings that differ on AWS
		// (the S3 ones are added by setEnvironment, under the condition).
		env := map[string]*string{
			"FLOTILLA_PEERNAME":       s(z.Peer()),
			"FLOTILLA_GATEWAY_LISTEN": s("0.0.0.0:8080"),
			"FLOTILLA_API_LISTEN":     s("0.0.0.0:9094"),
			"FLOTILLA_PINSVC_LISTEN":  s("0.0.0.0:9097"),
			"FLOTILLA_OPS_LISTEN":     s("0.0.0.0:9090"),
			"FLOTILLA_RPC_LISTEN":     s("127.0.0.1:5001"), // Kubo RPC never leaves the task
			"FLOTILLA_CLUSTER_LISTEN": s("0.0.0.0:9096"),
			// Reached through the ALB's registry listener (with a
			// certificate), else only inside the VPC.
			"FLOTILLA_REGISTRY_LISTEN": s("0.0.0.0:5000"),
			// Every peer resolves to all tasks; the cluster forms once
			// three found each other, and a replaced task rejoins. The
			// announce address (task IP) and zone (task metadata) are
			// detected by the daemon.
			"FLOTILLA_JOIN":             f.disc.join,
			"FLOTILLA_BOOTSTRAP_EXPECT": s("3"),
			// What other IPFS nodes dial: this node's own NLB.
			"FLOTILLA_SWARM_ANNOUNCE": awscdk.Fn_Join(s(""), &[]*string{
				s("/dns4/"), nlbName, s("/tcp/4001,/dns4/"), nlbName, s("/udp/4001/quic-v1"),
			}),
			// The ALB is in the VPC: its X-Forwarded-For is believed.
			"FLOTILLA_API_TRUSTED_PROXIES": f.p.vpcCIDR.ValueAsString(),
		}
		ctr := td.AddContainer(s("flotilla"), &awsecs.ContainerDefinitionOptions{
			Image:     awsecs.ContainerImage_FromRegistry(f.p.imageURI.ValueAsString(), nil),
			Essential: b(true),
			Secrets:   f.sec.containerSecrets(),
			Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
				StreamPrefix: s("flotilla"),
				LogGroup:     awslogs.LogGroup_FromLogGroupName(f.stack, s(z.id("ImportedLogGroup")), logs.Ref()),
			}),
			// Healthy = /ready: serving, disks answering, a raft leader known.
			HealthCheck: &awsecs.HealthCheck{
				Command:  &[]*string{s("CMD"), s("/flotilla"), s("health"), s("--local"), s("--ready")},
				Interval: awscdk.Duration_Seconds(n(15)), Timeout: awscdk.Duration_Seconds(n(5)),
				Retries: n(4), StartPeriod: awscdk.Duration_Seconds(n(180)),
			},
			// Time for a leader to hand over leadership before SIGKILL.
			StopTimeout: awscdk.Duration_Seconds(n(60)),
			PortMappings: &[]*awsecs.PortMapping{
				{ContainerPort: n(swarmPort), Protocol: awsecs.Protocol_TCP},
				{ContainerPort: n(swarmPort), Protocol: awsecs.Protocol_UDP},
				{ContainerPort: n(gatewayPort)}, {ContainerPort: n(apiPort)}, {ContainerPort: n(pinsvcPort)},
				{ContainerPort: n(opsPort)}, {ContainerPort: n(clusterPort)}, {ContainerPort: n(registryPort)},
			},
		})
		ctr.AddMountPoints(&awsecs.MountPoint{ContainerPath: s("/data"), SourceVolume: s("data"), ReadOnly: b(false)})
		setEnvironment(f, td, env, st.bucket)

		lbs := []interface{}{&awsecs.CfnService_LoadBalancerProperty{
			ContainerName: s("flotilla"), ContainerPort: n(swarmPort), TargetGroupArn: f.lb.swarm[z.index].Ref(),
		}}
		for _, hs := range f.lb.http {
			lbs = append(lbs, &awsecs.CfnService_LoadBalancerProperty{
				ContainerName: s("flotilla"), ContainerPort: n(hs.port), TargetGroupArn: hs.tg.Ref(),
			})
		}
		// The registry's target group, when it exists (CloudFormation
		// names inside Fn::If, as the L1 would write them).
		lbs = append(lbs, ifAny(f.c.registry, map[string]interface{}{
			"ContainerName": "flotilla", "ContainerPort": registryPort, "TargetGroupArn": f.lb.registry.Ref(),
		}, noValue()))
		svc := awsecs.NewCfnService(f.stack, s(z.id("Service")), &awsecs.CfnServiceProps{
			Cluster: cluster.Ref(), TaskDefinition: td.TaskDefinitionArn(),
			LaunchType: s("FARGATE"), PlatformVersion: s("LATEST"), DesiredCount: n(1),
			// Pinned to its AZ: exactly one private subnet, no public IP.
			NetworkConfiguration: &awsecs.CfnService_NetworkConfigurationProperty{
				AwsvpcConfiguration: &awsecs.CfnService_AwsVpcConfigurationProperty{
					AssignPublicIp: s("DISABLED"), SecurityGroups: &[]*string{f.sg.tasks.AttrGroupId()},
					Subnets: &[]*string{f.net.private[z.index].Ref()},
				},
			},
			// min 0 / max 100: the old task stops before the new one starts,
			// because two daemons must never open the same data directory.
			// The circuit breaker rolls a failing image back, and because
			// the services update one after another (below), a bad image
			// stops at the first zone with the other two still serving.
			DeploymentConfiguration: &awsecs.CfnService_DeploymentConfigurationProperty{
				MinimumHealthyPercent: n(0), MaximumPercent: n(100),
				DeploymentCircuitBreaker: &awsecs.CfnService_DeploymentCircuitBreakerProperty{Enable: b(true), Rollback: b(true)},
			},
			HealthCheckGracePeriodSeconds: n(300), // joining and catching up the raft log
			LoadBalancers:                 &lbs,
			ServiceRegistries:             &[]interface{}{&awsecs.CfnService_ServiceRegistryProperty{RegistryArn: f.disc.service.AttrArn()}},
			EnableEcsManagedTags:          b(true), PropagateTags: s("SERVICE"),
			Tags: &[]*awscdk.CfnTag{{Key: s("flotilla:peer"), Value: s(z.Peer())}},
		})
		// ECS refuses target groups not yet attached to a load balancer.
		for _, r := range f.lb.rules {
			svc.AddResourceDependency(r, s("target group attached to the ALB"))
		}
		svc.AddResourceDependency(f.lb.swarmL[z.index], s("target group attached to the NLB"))
		svc.AddResourceDependency(f.lb.registryAttached, s("registry target group attached to the ALB, when there is one"))
		svc.AddResourceDependency(vol.ready, s("mount target exists"))

		// Rolling zone by zone: service b depends on service a and c on
		// b, so CloudFormation creates and updates them one at a time,
		// each waiting for the previous one to be steady (its task
		// healthy = /ready = back in the cluster): two of three peers keep
		// quorum throughout. On the first deploy a lone node a is ready
		// too: a peer forming a new cluster counts as ready while it
		// waits for the others (internal/cluster Readiness).
		if z.index > 0 {
			svc.AddResourceDependency(svcs[z.index-1].svc, s("roll zone by zone"))
		}
		svcs = append(svcs, service{z: z, svc: svc, logGroup: logs})
	}
	return svcs
}

// setEnvironment writes the container's Environment: env, sorted by name,
// then, with Storage=s3 only, the settings of the shared bucket. Each of
// those is a list element under Fn::If that AWS::NoValue drops otherwise,
// so that the EFS layouts run with exactly the flatfs settings (the daemon
// refuses --s3-* settings with --blockstore flatfs). The L2 container
// takes only unconditional values, hence the override of the whole list.
// No credentials: the AWS SDK in the task finds the task role.
func setEnvironment(f *FlotillaStack, td awsecs.TaskDefinition, env map[string]*string, bucket awss3.CfnBucket) {
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	var list []interface{}
	for _, name := range names {
		list = append(list, map[string]interface{}{"Name": name, "Value": env[name]})
	}
	for _, v := range []struct {
		name  string
		value interface{}
	}{
		{"FLOTILLA_BLOCKSTORE", "s3"},
		{"FLOTILLA_S3_BUCKET", bucket.Ref()},
		{"FLOTILLA_S3_PREFIX", s3Prefix},
		{"FLOTILLA_S3_REGION", awscdk.Aws_REGION()}, // the bucket is the stack's, in its region
		{"FLOTILLA_S3_SHARED", "true"},              // one bucket and prefix for the three nodes
	} {
		list = append(list, ifAny(f.c.s3, map[string]interface{}{"Name": v.name, "Value": v.value}, noValue()))
	}
	td.Node().DefaultChild().(awsecs.CfnTaskDefinition).AddPropertyOverride(s("ContainerDefinitions.0.Environment"), list)
}
