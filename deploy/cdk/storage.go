package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsefs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
)

// volume is where one node keeps /data.
type volume struct {
	fileSystemID, accessPointID *string
	fileSystemArn, accessPoint  *string
	ready                       awscdk.CfnResource // created once the node's mount target exists
}

// newStorage builds both EFS layouts, each under its condition, and hands
// every node Fn::If-selected IDs, so the Storage parameter picks one at
// deploy time:
//   - efs-onezone: a One Zone file system per node in the node's AZ (a
//     node's data is as local as its task; the other two nodes hold the
//     replicas), with an access point rooted at /flotilla;
//   - efs-standard: one regional file system, a mount target per AZ, an
//     access point per node rooted at /node-<letter>.
//
// Both: encrypted at rest, AWS Backup on, TLS and IAM required (the file
// system policy admits only the nodes' task roles, through mount targets),
// owned by the image's uid/gid 10001. Both are retained when the stack is
// deleted: they hold the cluster's data.
//
// S3: a later issue adds the "s3" Storage value; it goes here as a third
// branch (condition IsS3, no volume, a bucket and the task role's S3 grant),
// and the Fn::If chains below get a third arm.
func newStorage(f *FlotillaStack, taskRoles []awsiam.Role) []volume {
	c := f.c
	fsPolicy := func(roles ...awsiam.Role) map[string]interface{} {
		var arns []interface{}
		for _, r := range roles {
			arns = append(arns, r.RoleArn())
		}
		return map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{
				map[string]interface{}{
					"Sid": "NodesMountAndWrite", "Effect": "Allow", "Principal": map[string]interface{}{"AWS": arns},
					"Action":    []interface{}{"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"},
					"Condition": map[string]interface{}{"Bool": map[string]interface{}{"elasticfilesystem:AccessedViaMountTarget": "true"}},
				},
				map[string]interface{}{
					"Sid": "TlsOnly", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"}, "Action": "*",
					"Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}},
				},
			},
		}
	}
	fileSystem := func(id string, az *string, policy map[string]interface{}, cond awscdk.CfnCondition) awsefs.CfnFileSystem {
		fs := awsefs.NewCfnFileSystem(f.stack, s(id), &awsefs.CfnFileSystemProps{
			Encrypted: b(true), AvailabilityZoneName: az,
			PerformanceMode: s("generalPurpose"), ThroughputMode: s("elastic"),
			BackupPolicy:     &awsefs.CfnFileSystem_BackupPolicyProperty{Status: s("ENABLED")},
			FileSystemPolicy: policy,
			FileSystemTags:   &[]*awsefs.CfnFileSystem_ElasticFileSystemTagProperty{{Key: s("Name"), Value: awscdk.Fn_Join(s("-"), &[]*string{awscdk.Aws_STACK_NAME(), s(id)})}},
		})
		fs.CfnOptions().SetCondition(cond)
		fs.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
		return fs
	}
	accessPoint := func(id string, fs awsefs.CfnFileSystem, dir string, cond awscdk.CfnCondition) awsefs.CfnAccessPoint {
		ap := awsefs.NewCfnAccessPoint(f.stack, s(id), &awsefs.CfnAccessPointProps{
			FileSystemId: fs.Ref(),
			PosixUser:    &awsefs.CfnAccessPoint_PosixUserProperty{Uid: s("10001"), Gid: s("10001")},
			RootDirectory: &awsefs.CfnAccessPoint_RootDirectoryProperty{
				Path:         s(dir),
				CreationInfo: &awsefs.CfnAccessPoint_CreationInfoProperty{OwnerUid: s("10001"), OwnerGid: s("10001"), Permissions: s("0750")},
			},
		})
		ap.CfnOptions().SetCondition(cond)
		return ap
	}
	mountTarget := func(id string, fs awsefs.CfnFileSystem, z zone, cond awscdk.CfnCondition) awsefs.CfnMountTarget {
		mt := awsefs.NewCfnMountTarget(f.stack, s(id), &awsefs.CfnMountTargetProps{
			FileSystemId: fs.Ref(), SubnetId: f.net.private[z.index].Ref(), SecurityGroups: &[]interface{}{f.sg.efs.AttrGroupId()},
		})
		mt.CfnOptions().SetCondition(cond)
		return mt
	}

	regional := fileSystem("SharedFileSystem", nil, fsPolicy(taskRoles...), c.standard)
	var vols []volume
	for _, z := range f.zs {
		oz := fileSystem(z.id("FileSystem"), z.az, fsPolicy(taskRoles[z.index]), c.oneZone)
		ozAP := accessPoint(z.id("AccessPoint"), oz, "/flotilla", c.oneZone)
		ozMT := mountTarget(z.id("MountTarget"), oz, z, c.oneZone)
		stAP := accessPoint(z.id("SharedAccessPoint"), regional, "/"+z.Peer(), c.standard)
		stMT := mountTarget(z.id("SharedMountTarget"), regional, z, c.standard)

		// A conditional resource cannot be named in DependsOn, so the
		// service waits on this handle, which refers to whichever mount
		// target exists: the task must not start before it can mount.
		ready := awscdk.NewCfnResource(f.stack, s(z.id("StorageReady")), &awscdk.CfnResourceProps{Type: s("AWS::CloudFormation::WaitConditionHandle")})
		ready.AddMetadata(s("MountTarget"), ifAny(c.oneZone, ozMT.Ref(), stMT.Ref()))

		vols = append(vols, volume{
			fileSystemID:  ifStr(c.oneZone, oz.Ref(), regional.Ref()),
			accessPointID: ifStr(c.oneZone, ozAP.Ref(), stAP.Ref()),
			fileSystemArn: ifStr(c.oneZone, oz.AttrArn(), regional.AttrArn()),
			accessPoint:   ifStr(c.oneZone, ozAP.AttrArn(), stAP.AttrArn()),
			ready:         ready,
		})
	}
	return vols
}
