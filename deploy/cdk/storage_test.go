package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// With Storage=s3: one bucket, encrypted, private, TLS only, unversioned,
// aborting incomplete uploads after a day, kept when the stack goes.
func TestS3BucketWithStorageS3(t *testing.T) {
	d := resolve(t, map[string]string{"Storage": "s3"})
	buckets := d.ofType("AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets with Storage=s3, want 1", len(buckets))
	}
	var id string
	var bkt resource
	for i, r := range buckets {
		id, bkt = i, r
	}
	raw := rawResource(t, id)
	if raw["DeletionPolicy"] != "Retain" || raw["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("%s: deletion %v, replace %v; want Retain (it holds the blocks)", id, raw["DeletionPolicy"], raw["UpdateReplacePolicy"])
	}
	p := bkt.Properties
	sse := list(obj(p["BucketEncryption"])["ServerSideEncryptionConfiguration"])
	if len(sse) != 1 || !slices.Contains([]any{"AES256", "aws:kms"}, obj(obj(sse[0])["ServerSideEncryptionByDefault"])["SSEAlgorithm"]) {
		t.Errorf("%s: encryption %s", id, js(p["BucketEncryption"]))
	}
	pab := obj(p["PublicAccessBlockConfiguration"])
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if pab[k] != true {
			t.Errorf("%s: public access block %s = %v, want true (BLOCK_ALL)", id, k, pab[k])
		}
	}
	if v := obj(p["VersioningConfiguration"])["Status"]; v != nil && v != "Suspended" {
		t.Errorf("%s: versioning %v, want off", id, v)
	}
	if p["WebsiteConfiguration"] != nil || p["AccessControl"] != nil {
		t.Errorf("%s: website or ACL settings: %s", id, js(p))
	}
	aborts := false
	for _, r := range list(obj(p["LifecycleConfiguration"])["Rules"]) {
		rule := obj(r)
		if rule["Status"] == "Enabled" && obj(rule["AbortIncompleteMultipartUpload"])["DaysAfterInitiation"] == float64(1) && rule["Prefix"] == nil && rule["Filter"] == nil {
			aborts = true
		}
	}
	if !aborts {
		t.Errorf("%s: no enabled lifecycle rule aborting incomplete multipart uploads after 1 day over the whole bucket: %s", id, js(p["LifecycleConfiguration"]))
	}

	// enforceSSL: a bucket policy denies every request without TLS.
	tls := false
	for pid, pol := range d.ofType("AWS::S3::BucketPolicy") {
		if js(pol.Properties["Bucket"]) != `{"Ref":"`+id+`"}` {
			continue
		}
		for _, st := range list(obj(pol.Properties["PolicyDocument"])["Statement"]) {
			s := obj(st)
			if s["Effect"] == "Deny" && s["Action"] == "s3:*" && js(s["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` &&
				strings.Contains(js(s["Resource"]), `"/*"`) {
				tls = true
			}
			if s["Effect"] == "Allow" {
				t.Errorf("%s allows %s", pid, js(s))
			}
		}
	}
	if !tls {
		t.Errorf("%s: no bucket policy denies plain HTTP", id)
	}
	if _, ok := d.Outputs["BlocksBucketName"]; !ok {
		t.Error("no BlocksBucketName output with Storage=s3")
	}
	// The tasks reach S3 through a gateway endpoint on their route tables,
	// not through the NAT gateway.
	eps := d.ofType("AWS::EC2::VPCEndpoint")
	if len(eps) != 1 {
		t.Fatalf("%d VPC endpoints with Storage=s3, want the S3 gateway endpoint", len(eps))
	}
	for eid, ep := range eps {
		if ep.Properties["VpcEndpointType"] != "Gateway" || !strings.Contains(js(ep.Properties["ServiceName"]), ".s3") || len(list(ep.Properties["RouteTableIds"])) != 3 {
			t.Errorf("%s: %s", eid, js(ep.Properties))
		}
	}
}

// With Storage=s3 each task role may do exactly what the S3 store does,
// on the stack's bucket and the flotilla/ prefix only; nothing else in
// the stack grants S3.
func TestS3TaskRolesOnlyTheirBucketAndPrefix(t *testing.T) {
	d := resolve(t, map[string]string{"Storage": "s3"})
	bucketID := ""
	for id := range d.ofType("AWS::S3::Bucket") {
		bucketID = id
	}
	bucketArn := `{"Fn::GetAtt":["` + bucketID + `","Arn"]}`
	objects := `{"Fn::Join":["",[` + bucketArn + `,"/flotilla/*"]]}`
	wantObject := []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"}
	wantBucket := []string{"s3:ListBucket", "s3:ListBucketMultipartUploads"}

	roles := map[string]bool{}
	for id, r := range d.ofType("AWS::IAM::Role") {
		if strings.HasPrefix(id, "TaskRole") {
			roles[id] = true
			if r.Properties["ManagedPolicyArns"] != nil || r.Properties["Policies"] != nil {
				t.Errorf("%s has policies of its own: %s", id, js(r.Properties))
			}
		}
	}
	if len(roles) != 3 {
		t.Fatalf("%d task roles, want 3", len(roles))
	}
	granted := map[string][]string{} // task role → S3 actions, "<actions> on <resource>"
	for pid, pol := range d.ofType("AWS::IAM::Policy") {
		doc := obj(pol.Properties["PolicyDocument"])
		for _, st := range list(doc["Statement"]) {
			s := obj(st)
			var actions []string
			for _, a := range append(list(s["Action"]), s["Action"]) {
				if as, ok := a.(string); ok {
					actions = append(actions, as)
				}
			}
			s3 := false
			for _, a := range actions {
				if strings.HasPrefix(a, "s3:") || a == "*" {
					s3 = true
				}
			}
			if !s3 {
				continue
			}
			if s["Effect"] != "Allow" {
				continue
			}
			sort.Strings(actions)
			res := js(s["Resource"])
			switch {
			case res == objects && slices.Equal(actions, wantObject):
			case res == bucketArn && slices.Equal(actions, wantBucket):
			default:
				t.Errorf("%s grants %v on %s: want %v on the bucket's flotilla/* or %v on the bucket", pid, actions, res, wantObject, wantBucket)
			}
			for _, role := range list(pol.Properties["Roles"]) {
				name := fmt.Sprint(obj(role)["Ref"])
				granted[name] = append(granted[name], strings.Join(actions, ",")+" on "+res)
			}
			if s["Condition"] != nil {
				t.Errorf("%s: condition %s", pid, js(s["Condition"]))
			}
		}
	}
	for role := range roles {
		if len(granted[role]) != 2 {
			t.Errorf("%s: S3 grants %v, want the objects' and the bucket's", role, granted[role])
		}
		delete(granted, role)
	}
	if len(granted) > 0 {
		t.Errorf("S3 granted to other principals: %v", granted)
	}
}

// The containers run with the S3 settings only with Storage=s3, and the
// EFS layouts' containers are exactly the flatfs ones (the daemon refuses
// --s3-* settings with flatfs). No S3 credential is ever in the task.
func TestS3Environment(t *testing.T) {
	for _, storage := range []string{"efs-onezone", "efs-standard", "s3"} {
		d := resolve(t, map[string]string{"Storage": storage})
		bucketID := ""
		for id := range d.ofType("AWS::S3::Bucket") {
			bucketID = id
		}
		if (bucketID != "") != (storage == "s3") {
			t.Errorf("Storage=%s: bucket %q", storage, bucketID)
		}
		for id, td := range d.ofType("AWS::ECS::TaskDefinition") {
			for _, c := range list(td.Properties["ContainerDefinitions"]) {
				env := map[string]string{}
				for _, e := range list(obj(c)["Environment"]) {
					env[fmt.Sprint(obj(e)["Name"])] = js(obj(e)["Value"])
				}
				for name := range env {
					if strings.HasPrefix(name, "AWS_") {
						t.Errorf("Storage=%s %s: %s in the environment: the task role is the credential", storage, id, name)
					}
				}
				if storage != "s3" {
					for name := range env {
						if name == "FLOTILLA_BLOCKSTORE" || strings.HasPrefix(name, "FLOTILLA_S3_") {
							t.Errorf("Storage=%s %s: %s set", storage, id, name)
						}
					}
					continue
				}
				want := map[string]string{
					"FLOTILLA_BLOCKSTORE": `"s3"`,
					"FLOTILLA_S3_BUCKET":  `{"Ref":"` + bucketID + `"}`,
					"FLOTILLA_S3_PREFIX":  `"flotilla"`,
					"FLOTILLA_S3_SHARED":  `"true"`,
					"FLOTILLA_S3_REGION":  `{"Ref":"AWS::Region"}`,
				}
				for name, v := range want {
					if env[name] != v {
						t.Errorf("Storage=s3 %s: %s = %s, want %s", id, name, env[name], v)
					}
				}
				if len(env) != 12+len(want) {
					t.Errorf("Storage=s3 %s: %d variables, want the 12 of every layout (the registry's listen address among them) and %d for S3", id, len(env), len(want))
				}
			}
		}
		for _, typ := range []string{"AWS::IAM::User", "AWS::IAM::AccessKey"} {
			if n := len(d.ofType(typ)); n > 0 {
				t.Errorf("Storage=%s: %d %s: an access key would be a secret in the stack", storage, n, typ)
			}
		}
	}
}

// Storage=s3 keeps each node's data directory on its own One Zone EFS, as
// efs-onezone does; efs-standard has the one regional file system; only
// s3 has a bucket.
func TestStorageLayouts(t *testing.T) {
	for _, c := range []struct {
		storage                string
		fileSystems, mountTgts int
		regional, buckets      int
	}{
		{"efs-onezone", 3, 3, 0, 0},
		{"efs-standard", 1, 3, 1, 0},
		{"s3", 3, 3, 0, 1},
	} {
		d := resolve(t, map[string]string{"Storage": c.storage})
		fss := d.ofType("AWS::EFS::FileSystem")
		regional := 0
		for _, fs := range fss {
			if fs.Properties["AvailabilityZoneName"] == nil {
				regional++
			}
		}
		got := []int{len(fss), len(d.ofType("AWS::EFS::MountTarget")), regional, len(d.ofType("AWS::S3::Bucket"))}
		if want := []int{c.fileSystems, c.mountTgts, c.regional, c.buckets}; !slices.Equal(got, want) {
			t.Errorf("Storage=%s: file systems, mount targets, regional, buckets = %v, want %v", c.storage, got, want)
		}
		for id, td := range d.ofType("AWS::ECS::TaskDefinition") {
			vols := list(td.Properties["Volumes"])
			if len(vols) != 1 || obj(obj(vols[0])["EFSVolumeConfiguration"])["TransitEncryption"] != "ENABLED" {
				t.Errorf("Storage=%s %s: volumes %s, want the one EFS volume, TLS on", c.storage, id, js(vols))
			}
		}
	}
}

// rawResource is a resource of the synthesized template with its
// attributes (DeletionPolicy, …).
func rawResource(t *testing.T, id string) map[string]any {
	t.Helper()
	synth(t)
	var raw struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(synthJSON, &raw); err != nil {
		t.Fatal(err)
	}
	return raw.Resources[id]
}
