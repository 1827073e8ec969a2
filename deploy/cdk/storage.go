package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsefs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
)

// s3Prefix is the key prefix of the blocks in the bucket (--s3-prefix):
// the store keeps <prefix>/packs/<shard>/<pack id>, and the task roles may
// touch no other key.
const s3Prefix = "flotilla"

// volume is where one node keeps /data.
type volume struct {
	fileSystemID, accessPointID *string
	fileSystemArn, accessPoint  *string
	ready                       awscdk.CfnResource // created once the node's mount target (and S3 grant) exists
}

// storage is what the nodes are given: a data volume each and, with
// Storage=s3, the bucket they share (a conditional resource: refer to it
// only under c.s3).
type storage struct {
	vols   []volume
	bucket awss3.CfnBucket
}

// newStorage builds every layout, each under its condition, and hands
// every node Fn::If-selected IDs, so the Storage parameter picks one at
// deploy time:
//   - efs-onezone: a One Zone file system per node in the node's AZ (a
//     node's data is as local as its task; the other two nodes hold the
//     replicas), with an access point rooted at /flotilla;
//   - efs-standard: one regional file system, a mount target per AZ, an
//     access point per node rooted at /node-<letter>;
//   - s3: the blocks in one bucket the three nodes share (newBucket), and
//     the data directory on the same One Zone file systems as
//     efs-onezone (condition NodeFileSystems covers both).
//
// Why s3 still mounts EFS, not the task's ephemeral storage: a fresh peer
// does rebuild its pack index from the bucket, and the read cache may be
// lost, but the data directory also holds the peer's identity, its raft
// log and the replicated pinset. On ephemeral storage every task
// replacement would be a new peer (a rolling update would add three new
// raft voters while the old three stay members until
// --dead-node-timeout, past quorum), and the three tasks stopping together
// would lose the pinset with the blocks still in the bucket. The directory
// is small: the index is tens of bytes per block, the cache is bounded
// (--s3-cache-size, 1 GiB by default).
//
// The file systems: encrypted at rest, AWS Backup on, TLS and IAM required
// (the file system policy admits only the nodes' task roles, through mount
// targets), owned by the image's uid/gid 10001. They and the bucket are
// retained when the stack is deleted: they hold the cluster's data.
func newStorage(f *FlotillaStack, taskRoles []awsiam.Role) storage {
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
	st := storage{bucket: newBucket(f)}
	for _, z := range f.zs {
		oz := fileSystem(z.id("FileSystem"), z.az, fsPolicy(taskRoles[z.index]), c.nodeFS)
		ozAP := accessPoint(z.id("AccessPoint"), oz, "/flotilla", c.nodeFS)
		ozMT := mountTarget(z.id("MountTarget"), oz, z, c.nodeFS)
		stAP := accessPoint(z.id("SharedAccessPoint"), regional, "/"+z.Peer(), c.standard)
		stMT := mountTarget(z.id("SharedMountTarget"), regional, z, c.standard)
		s3Access := bucketAccess(f, z, taskRoles[z.index], st.bucket)

		// A conditional resource cannot be named in DependsOn, so the
		// service waits on this handle, which refers to whichever mount
		// target exists, and to the task role's S3 grant with Storage=s3:
		// the task must not start before it can mount and reach its bucket.
		ready := awscdk.NewCfnResource(f.stack, s(z.id("StorageReady")), &awscdk.CfnResourceProps{Type: s("AWS::CloudFormation::WaitConditionHandle")})
		ready.AddMetadata(s("MountTarget"), ifAny(c.nodeFS, ozMT.Ref(), stMT.Ref()))
		ready.AddMetadata(s("BucketAccess"), ifAny(c.s3, s3Access.Ref(), noValue()))

		st.vols = append(st.vols, volume{
			fileSystemID:  ifStr(c.nodeFS, oz.Ref(), regional.Ref()),
			accessPointID: ifStr(c.nodeFS, ozAP.Ref(), stAP.Ref()),
			fileSystemArn: ifStr(c.nodeFS, oz.AttrArn(), regional.AttrArn()),
			accessPoint:   ifStr(c.nodeFS, ozAP.AttrArn(), stAP.AttrArn()),
			ready:         ready,
		})
	}
	return st
}

// newBucket is the blocks' bucket of Storage=s3, one for the cluster
// (--s3-shared: a block is stored once whatever the replication; the
// replicas buy serving capacity and cache warmth, S3 the durability):
//   - encrypted with S3-managed keys (SSE-S3): no KMS request charge on
//     every GET and PUT, no key policy to keep;
//   - all public access blocked (BlockPublicAccess.BLOCK_ALL), ACLs off
//     (bucket owner enforced), and a bucket policy refusing plain HTTP
//     (enforceSSL);
//   - versioning off: packs are written once and deleted by compaction
//     only, and versions would keep every deleted pack billed;
//   - a lifecycle rule aborting multipart uploads a day after they start:
//     a peer killed in the middle of a pack, and never started again,
//     leaves parts S3 would bill forever (the store aborts its own at its
//     next start, and in shared mode the others' once a day old);
//   - retained when the stack is deleted, like the file systems.
//
// The name is CloudFormation's (the stack's name and a suffix): bucket
// names are global, and the nodes are told it (FLOTILLA_S3_BUCKET).
func newBucket(f *FlotillaStack) awss3.CfnBucket {
	bucket := awss3.NewCfnBucket(f.stack, s("BlocksBucket"), &awss3.CfnBucketProps{
		BucketEncryption: &awss3.CfnBucket_BucketEncryptionProperty{
			ServerSideEncryptionConfiguration: &[]interface{}{&awss3.CfnBucket_ServerSideEncryptionRuleProperty{
				ServerSideEncryptionByDefault: &awss3.CfnBucket_ServerSideEncryptionByDefaultProperty{SseAlgorithm: s("AES256")},
			}},
		},
		PublicAccessBlockConfiguration: &awss3.CfnBucket_PublicAccessBlockConfigurationProperty{
			BlockPublicAcls: b(true), BlockPublicPolicy: b(true), IgnorePublicAcls: b(true), RestrictPublicBuckets: b(true),
		},
		OwnershipControls: &awss3.CfnBucket_OwnershipControlsProperty{
			Rules: &[]interface{}{&awss3.CfnBucket_OwnershipControlsRuleProperty{ObjectOwnership: s("BucketOwnerEnforced")}},
		},
		LifecycleConfiguration: &awss3.CfnBucket_LifecycleConfigurationProperty{
			Rules: &[]interface{}{&awss3.CfnBucket_RuleProperty{
				Id: s("AbortIncompleteMultipartUploads"), Status: s("Enabled"),
				AbortIncompleteMultipartUpload: &awss3.CfnBucket_AbortIncompleteMultipartUploadProperty{DaysAfterInitiation: n(1)},
			}},
		},
		Tags: &[]*awscdk.CfnTag{{Key: s("Name"), Value: awscdk.Fn_Join(s("-"), &[]*string{awscdk.Aws_STACK_NAME(), s("blocks")})}},
	})
	bucket.CfnOptions().SetCondition(f.c.s3)
	bucket.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)

	policy := awss3.NewCfnBucketPolicy(f.stack, s("BlocksBucketPolicy"), &awss3.CfnBucketPolicyProps{
		Bucket: bucket.Ref(),
		PolicyDocument: map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{map[string]interface{}{
				"Sid": "TlsOnly", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"}, "Action": "s3:*",
				"Resource":  []interface{}{bucket.AttrArn(), awscdk.Fn_Join(s(""), &[]*string{bucket.AttrArn(), s("/*")})},
				"Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}},
			}},
		},
	})
	policy.CfnOptions().SetCondition(f.c.s3)
	return bucket
}

// bucketAccess grants one node's task role what the S3 store does, on the
// bucket and the prefix only: read, write and delete packs
// (flotilla/packs/…), list them to rebuild the index, and find and abort
// unfinished multipart uploads. ListBucket and ListBucketMultipartUploads
// are bucket-level actions: the store's HeadBucket (at start and for
// /ready) is a ListBucket without a prefix, so they carry no prefix
// condition; the bucket is the stack's own and holds only the prefix.
// A policy of its own, under the condition, so that the role's other
// policy never names a bucket that does not exist.
func bucketAccess(f *FlotillaStack, z zone, role awsiam.Role, bucket awss3.CfnBucket) awsiam.CfnPolicy {
	objects := awscdk.Fn_Join(s(""), &[]*string{bucket.AttrArn(), s("/" + s3Prefix + "/*")})
	p := awsiam.NewCfnPolicy(f.stack, s(z.id("BucketAccess")), &awsiam.CfnPolicyProps{
		PolicyName: s("flotilla-blocks-bucket"),
		Roles:      &[]*string{role.RoleName()},
		PolicyDocument: map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{
				map[string]interface{}{
					"Sid": "Packs", "Effect": "Allow",
					"Action":   []interface{}{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
					"Resource": objects,
				},
				map[string]interface{}{
					"Sid": "ListPacksAndUploads", "Effect": "Allow",
					"Action":   []interface{}{"s3:ListBucket", "s3:ListBucketMultipartUploads"},
					"Resource": bucket.AttrArn(),
				},
			},
		},
	})
	p.CfnOptions().SetCondition(f.c.s3)
	return p
}
