package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// All tests share one synthesis (jsii starts node once, ~5 s).
var (
	synthOnce sync.Once
	synthJSON []byte
	synthErr  error
	tmpl      template
	// assert is the same synthesis for the CDK's own assertions package.
	assert assertions.Template
)

type template struct {
	Parameters map[string]map[string]any
	Resources  map[string]resource
	Outputs    map[string]any
}

type resource struct {
	Type       string
	Condition  string
	DependsOn  []string
	Metadata   map[string]any
	Properties map[string]any
}

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("node"); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/cdk tests need node (the CDK runs in node through jsii): install Node.js 20 or newer (apt-get install nodejs)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func synth(t *testing.T) template {
	t.Helper()
	synthOnce.Do(func() {
		stack := NewFlotillaStack(newApp(nil), stackName).stack
		assert = assertions.Template_FromStack(stack, nil)
		synthJSON, synthErr = TemplateJSON(stack)
		if synthErr == nil {
			synthErr = json.Unmarshal(synthJSON, &tmpl)
		}
	})
	if synthErr != nil {
		t.Fatalf("synth: %v", synthErr)
	}
	return tmpl
}

func ofType(tm template, typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range tm.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

func list(v any) []any         { l, _ := v.([]any); return l }
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The committed template is what the code synthesizes today.
// The properties a reader checks first, with the CDK's assertions package
// (its matchers throw, through jsii, as panics).
func TestCDKAssertions(t *testing.T) {
	synth(t)
	fails := func(f func()) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		f()
		return ""
	}
	obj := func(kv ...any) *map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return &m
	}
	like := func(kv ...any) assertions.Matcher { return assertions.Match_ObjectLike(obj(kv...)) }
	for what, check := range map[string]func(){
		"one ECS service per zone": func() { assert.ResourceCountIs(s("AWS::ECS::Service"), n(3)) },
		"every EFS file system encrypted": func() {
			assert.AllResourcesProperties(s("AWS::EFS::FileSystem"), obj("Encrypted", true))
		},
		"four target groups checking /ready on the ops port (gateway, REST API, pinning service, registry)": func() {
			assert.ResourcePropertiesCountIs(s("AWS::ElasticLoadBalancingV2::TargetGroup"), obj("HealthCheckPath", "/ready", "HealthCheckPort", "9090"), n(4))
		},
		"the admin distribution HTTPS only": func() {
			assert.HasResourceProperties(s("AWS::CloudFront::Distribution"), like("DistributionConfig", like("DefaultCacheBehavior", like("ViewerProtocolPolicy", "https-only"))))
		},
		"the blocks bucket (Storage=s3) encrypted, private, aborting stale uploads": func() {
			assert.HasResourceProperties(s("AWS::S3::Bucket"), like(
				"BucketEncryption", like("ServerSideEncryptionConfiguration", assertions.Match_ArrayWith(&[]any{like("ServerSideEncryptionByDefault", like("SSEAlgorithm", "AES256"))})),
				"PublicAccessBlockConfiguration", obj("BlockPublicAcls", true, "BlockPublicPolicy", true, "IgnorePublicAcls", true, "RestrictPublicBuckets", true),
				"LifecycleConfiguration", like("Rules", assertions.Match_ArrayWith(&[]any{like("AbortIncompleteMultipartUpload", obj("DaysAfterInitiation", 1), "Status", "Enabled")}))))
		},
		"a 64-digit cluster secret generated": func() {
			assert.HasResourceProperties(s("AWS::SecretsManager::Secret"), like("GenerateSecretString", like("PasswordLength", 64, "ExcludeUppercase", true)))
		},
	} {
		if msg := fails(check); msg != "" {
			t.Errorf("%s: %s", what, msg)
		}
	}
	// The harness sees a failing matcher.
	if fails(func() { assert.ResourceCountIs(s("AWS::ECS::Service"), n(4)) }) == "" {
		t.Error("ResourceCountIs(AWS::ECS::Service, 4) passed: the assertions are not checked")
	}
}

func TestTemplateIsUpToDate(t *testing.T) {
	synth(t)
	committed, err := os.ReadFile("flotilla.template.json")
	if err != nil {
		t.Fatalf("flotilla.template.json: %v (run make cdk-synth)", err)
	}
	if !bytes.Equal(committed, synthJSON) {
		t.Fatal("flotilla.template.json is stale: run make cdk-synth and commit the result")
	}
}

// Only the swarm port (4001 TCP and UDP) is open to 0.0.0.0/0 and ::/0,
// and it is open on both families and both protocols.
func TestOnlySwarmPortOpenToInternet(t *testing.T) {
	tm := synth(t)
	var rules []map[string]any
	for _, r := range ofType(tm, "AWS::EC2::SecurityGroup") {
		for _, in := range list(r.Properties["SecurityGroupIngress"]) {
			rules = append(rules, obj(in))
		}
	}
	for _, r := range ofType(tm, "AWS::EC2::SecurityGroupIngress") {
		rules = append(rules, r.Properties)
	}
	open := map[string]bool{}
	for _, r := range rules {
		cidr, _ := r["CidrIp"].(string)
		cidr6, _ := r["CidrIpv6"].(string)
		if cidr != "0.0.0.0/0" && cidr6 != "::/0" {
			continue
		}
		if r["FromPort"] != float64(4001) || r["ToPort"] != float64(4001) || (r["IpProtocol"] != "tcp" && r["IpProtocol"] != "udp") {
			t.Errorf("open to the internet but not the swarm port: %s", js(r))
			continue
		}
		open[fmt.Sprint(r["IpProtocol"], cidr, cidr6)] = true
	}
	for _, want := range []string{"tcp0.0.0.0/0", "udp0.0.0.0/0", "tcp::/0", "udp::/0"} {
		if !open[want] {
			t.Errorf("swarm port not open for %s", want)
		}
	}
	if len(rules) < 8 {
		t.Errorf("found only %d ingress rules; the walk misses some", len(rules))
	}
}

// No secret value anywhere: no SECRET/PASSWORD environment variable, both
// secrets injected from Secrets Manager, no literal secret string, no
// parameter default that looks like a secret.
func TestNoPlaintextSecrets(t *testing.T) {
	tm := synth(t)
	tds := ofType(tm, "AWS::ECS::TaskDefinition")
	if len(tds) != 3 {
		t.Fatalf("%d task definitions, want 3", len(tds))
	}
	secretIDs := ofType(tm, "AWS::SecretsManager::Secret")
	for id, td := range tds {
		for _, c := range list(td.Properties["ContainerDefinitions"]) {
			for _, e := range list(obj(c)["Environment"]) {
				name := strings.ToUpper(fmt.Sprint(obj(e)["Name"]))
				if strings.Contains(name, "SECRET") || strings.Contains(name, "PASSWORD") {
					t.Errorf("%s: %s is a plain environment variable", id, name)
				}
			}
			got := map[string]string{}
			for _, sv := range list(obj(c)["Secrets"]) {
				got[fmt.Sprint(obj(sv)["Name"])] = js(obj(sv)["ValueFrom"])
			}
			for _, name := range []string{"FLOTILLA_CLUSTER_SECRET", "FLOTILLA_API_ADMIN_PASSWORD"} {
				ref := got[name]
				found := false
				for sid := range secretIDs {
					found = found || strings.Contains(ref, `"Ref":"`+sid+`"`)
				}
				if !found {
					t.Errorf("%s: %s is not injected from a stack secret (ValueFrom %s)", id, name, ref)
				}
			}
			if !strings.HasSuffix(got["FLOTILLA_API_ADMIN_PASSWORD"], `":password::"]]}`) {
				t.Errorf("%s: admin password not taken from the JSON field password: %s", id, got["FLOTILLA_API_ADMIN_PASSWORD"])
			}
		}
	}
	for id, sec := range secretIDs {
		if _, ok := sec.Properties["SecretString"]; ok {
			t.Errorf("%s: secret value in the template", id)
		}
		if sec.Properties["GenerateSecretString"] == nil {
			t.Errorf("%s: not generated by Secrets Manager", id)
		}
	}
	hex := regexp.MustCompile(`^[0-9a-fA-F]{32,}$`)
	for name, p := range tm.Parameters {
		def := fmt.Sprint(p["Default"])
		lower := strings.ToLower(name)
		if p["Default"] != nil && def != "" && (hex.MatchString(def) || strings.Contains(lower, "secret") || strings.Contains(lower, "password") || strings.Contains(lower, "token")) {
			t.Errorf("parameter %s has a secret-looking default %q", name, def)
		}
	}
	// The cluster secret is lowercase hex, 64 digits.
	gen := obj(secretIDs[findID(t, secretIDs, "ClusterSecret")].Properties["GenerateSecretString"])
	if gen["PasswordLength"] != float64(64) || gen["ExcludeUppercase"] != true || gen["ExcludePunctuation"] != true || gen["ExcludeCharacters"] != "ghijklmnopqrstuvwxyz" {
		t.Errorf("cluster secret is not 64 lowercase hex digits: %s", js(gen))
	}
}

func findID(t *testing.T, rs map[string]resource, prefix string) string {
	t.Helper()
	for id := range rs {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	t.Fatalf("no resource %s*", prefix)
	return ""
}

func TestEfsEncrypted(t *testing.T) {
	fss := ofType(synth(t), "AWS::EFS::FileSystem")
	if len(fss) != 4 { // three One Zone, one regional, under conditions
		t.Fatalf("%d file systems, want 4", len(fss))
	}
	for id, fs := range fss {
		if fs.Properties["Encrypted"] != true {
			t.Errorf("%s: not encrypted", id)
		}
		if obj(fs.Properties["BackupPolicy"])["Status"] != "ENABLED" {
			t.Errorf("%s: backups off", id)
		}
	}
}

func TestViewersUseHTTPS(t *testing.T) {
	ds := ofType(synth(t), "AWS::CloudFront::Distribution")
	if len(ds) != 2 {
		t.Fatalf("%d distributions, want 2", len(ds))
	}
	for id, d := range ds {
		cfg := obj(d.Properties["DistributionConfig"])
		behaviours := append([]any{cfg["DefaultCacheBehavior"]}, list(cfg["CacheBehaviors"])...)
		for _, bh := range behaviours {
			p := obj(bh)["ViewerProtocolPolicy"]
			if p != "https-only" && p != "redirect-to-https" {
				t.Errorf("%s %v: viewer protocol %v", id, obj(bh)["PathPattern"], p)
			}
			if id == "AdminDistribution" && p != "https-only" {
				t.Errorf("admin API allows %v", p)
			}
		}
	}
}

// The ALB's group admits CloudFront's origin-facing addresses, and
// docker clients on the registry's port only (TestRegistryBehindTheAlb).
func TestAlbAdmitsOnlyCloudFront(t *testing.T) {
	tm := synth(t)
	albs := 0
	for id, lb := range ofType(tm, "AWS::ElasticLoadBalancingV2::LoadBalancer") {
		if lb.Properties["Type"] != "application" {
			continue
		}
		albs++
		for _, sg := range list(lb.Properties["SecurityGroups"]) {
			sgID := fmt.Sprint(list(obj(sg)["Fn::GetAtt"])[0])
			ingress := list(tm.Resources[sgID].Properties["SecurityGroupIngress"])
			if len(ingress) != 1 {
				t.Errorf("%s: %d ingress rules, want the one prefix-list rule", sgID, len(ingress))
			}
			for _, r := range ingress {
				if js(obj(r)["SourcePrefixListId"]) != `{"Fn::GetAtt":["CloudFrontPrefixList","PrefixListId"]}` {
					t.Errorf("%s of %s admits %s", sgID, id, js(r))
				}
			}
			for gid, r := range ofType(tm, "AWS::EC2::SecurityGroupIngress") {
				if !strings.Contains(js(r.Properties["GroupId"]), `"`+sgID+`"`) {
					continue
				}
				p := r.Properties
				registry := gid == "AlbRegistryFromClients" && r.Condition == "RegistryListens" &&
					p["FromPort"] == float64(registryPort) && p["ToPort"] == float64(registryPort) && js(p["CidrIp"]) == `{"Ref":"RegistryCidr"}`
				if !registry {
					t.Errorf("%s adds ingress to the ALB's group: %s", gid, js(r))
				}
			}
		}
	}
	if albs != 1 {
		t.Fatalf("%d ALBs, want 1", albs)
	}
	if got := tm.Resources["CloudFrontPrefixList"].Properties["PrefixListName"]; got != "com.amazonaws.global.cloudfront.origin-facing" {
		t.Errorf("prefix list looked up: %v", got)
	}
}

func TestServicesPinnedToOneZoneEach(t *testing.T) {
	tm := synth(t)
	svcs := ofType(tm, "AWS::ECS::Service")
	if len(svcs) != 3 {
		t.Fatalf("%d services, want 3", len(svcs))
	}
	azs := map[string]string{}
	for id, sv := range svcs {
		subnets := list(obj(obj(sv.Properties["NetworkConfiguration"])["AwsvpcConfiguration"])["Subnets"])
		if len(subnets) != 1 {
			t.Errorf("%s: %d subnets, want exactly 1", id, len(subnets))
			continue
		}
		subnet := tm.Resources[fmt.Sprint(obj(subnets[0])["Ref"])]
		if subnet.Type != "AWS::EC2::Subnet" {
			t.Errorf("%s: subnet %v is not a subnet of this stack", id, subnets[0])
			continue
		}
		az := js(subnet.Properties["AvailabilityZone"])
		if other, dup := azs[az]; dup {
			t.Errorf("%s and %s share the zone %s", id, other, az)
		}
		azs[az] = id
		if sv.Properties["DesiredCount"] != float64(1) {
			t.Errorf("%s: desired count %v", id, sv.Properties["DesiredCount"])
		}
	}
}

func TestTargetGroupsCheckReady(t *testing.T) {
	tgs := ofType(synth(t), "AWS::ElasticLoadBalancingV2::TargetGroup")
	http := 0
	for id, tg := range tgs {
		p := tg.Properties
		if p["Protocol"] != "HTTP" {
			// The NLBs' swarm groups (TCP_UDP) can only check TCP: on the
			// swarm port, since the ops port is open to the ALB alone.
			if p["HealthCheckProtocol"] != "TCP" || p["HealthCheckPort"] != "traffic-port" {
				t.Errorf("%s: swarm health check %v on %v", id, p["HealthCheckProtocol"], p["HealthCheckPort"])
			}
			continue
		}
		http++
		if p["HealthCheckPath"] != "/ready" || p["HealthCheckPort"] != "9090" || p["HealthyThresholdCount"] != float64(2) || p["HealthCheckIntervalSeconds"] != float64(10) {
			t.Errorf("%s: health check %v on %v (threshold %v, every %v s)", id, p["HealthCheckPath"], p["HealthCheckPort"], p["HealthyThresholdCount"], p["HealthCheckIntervalSeconds"])
		}
	}
	if http != 4 || len(tgs) != 7 {
		t.Errorf("%d HTTP target groups of %d, want 4 of 7", http, len(tgs))
	}
}

// Updates roll zone by zone: b waits for a, c for b, each service stops
// its task before starting the new one, and the circuit breaker rolls back.
func TestRolloutZoneByZone(t *testing.T) {
	tm := synth(t)
	for _, pair := range [][2]string{{"ServiceB", "ServiceA"}, {"ServiceC", "ServiceB"}} {
		if sv := tm.Resources[pair[0]]; !contains(sv.DependsOn, pair[1]) {
			t.Errorf("%s does not depend on %s: %v", pair[0], pair[1], sv.DependsOn)
		}
	}
	for id, sv := range ofType(tm, "AWS::ECS::Service") {
		dc := obj(sv.Properties["DeploymentConfiguration"])
		if dc["MinimumHealthyPercent"] != float64(0) || dc["MaximumPercent"] != float64(100) || js(dc["DeploymentCircuitBreaker"]) != `{"Enable":true,"Rollback":true}` {
			t.Errorf("%s: deployment configuration %s", id, js(dc))
		}
	}
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// Every resource validates against goformation's JSON schema, generated
// from the CloudFormation resource specification: the type exists, the
// required properties are there, no property is unknown, and values have
// the right shape (an intrinsic function stands for any value).
func TestResourcesMatchCloudFormationSchema(t *testing.T) {
	tm := synth(t)
	ids := make([]string, 0, len(tm.Resources))
	types := []string{"AWS::EC2::VPC", "AWS::EFS::MountTarget", "AWS::ECS::Service"}
	for id, r := range tm.Resources {
		ids = append(ids, id)
		types = append(types, r.Type)
	}
	validate := compileSchema(t, types...)
	sort.Strings(ids)
	var raw struct{ Resources map[string]any }
	if err := json.Unmarshal(synthJSON, &raw); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := validate(tm.Resources[id].Type, raw.Resources[id]); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	// The validator itself must reject what CloudFormation rejects.
	for _, bad := range []struct {
		typ string
		res string
	}{
		{"AWS::EC2::VPC", `{"Type":"AWS::EC2::VPC","Properties":{"CidrBlok":"10.0.0.0/16"}}`},
		{"AWS::EFS::MountTarget", `{"Type":"AWS::EFS::MountTarget","Properties":{"FileSystemId":"fs-1"}}`},
		{"AWS::ECS::Service", `{"Type":"AWS::ECS::Service","Properties":{"DesiredCount":"one"}}`},
		{"AWS::EC2::Nope", `{"Type":"AWS::EC2::Nope","Properties":{}}`},
	} {
		var v any
		_ = json.Unmarshal([]byte(bad.res), &v)
		if validate(bad.typ, v) == nil {
			t.Errorf("schema check accepts %s", bad.res)
		}
	}
}

// compileSchema loads goformation's CloudFormation schema, lets any
// intrinsic function ({"Ref": ...}, {"Fn::If": ...}) stand for any value,
// and returns a per-resource validator.
func compileSchema(t *testing.T, types ...string) func(typ string, res any) error {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(schema.CloudformationSchema), &doc); err != nil {
		t.Fatal(err)
	}
	// Keep only the definitions the tested types reach: compiling the whole
	// 7 MB document per type takes minutes.
	all := obj(doc["definitions"])
	defs := map[string]any{}
	var reach func(name string)
	reach = func(name string) {
		if _, done := defs[name]; done || all[name] == nil {
			return
		}
		defs[name] = all[name]
		for _, m := range regexp.MustCompile(`"#/definitions/([^"]+)"`).FindAllStringSubmatch(js(all[name]), -1) {
			reach(m[1])
		}
	}
	for _, typ := range types {
		reach(typ)
	}
	for k, v := range defs {
		defs[k] = allowIntrinsics(v)
	}
	doc = map[string]any{"definitions": defs}
	defs["Intrinsic"] = map[string]any{
		"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
		"patternProperties": map[string]any{"^(Ref|Fn::[A-Za-z0-9]+)$": map[string]any{}},
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource("cfn.json", doc); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	compiled := map[string]*jsonschema.Schema{}
	return func(typ string, res any) error {
		if strings.HasPrefix(typ, "Custom::") {
			if obj(obj(res)["Properties"])["ServiceToken"] == nil {
				return fmt.Errorf("custom resource without ServiceToken")
			}
			return nil
		}
		if _, ok := defs[typ]; !ok {
			return fmt.Errorf("unknown resource type %s", typ)
		}
		mu.Lock()
		sch, ok := compiled[typ]
		if !ok {
			var err error
			if sch, err = c.Compile("cfn.json#/definitions/" + typ); err != nil {
				mu.Unlock()
				return err
			}
			compiled[typ] = sch
		}
		mu.Unlock()
		return sch.Validate(res)
	}
}

var intrinsic = map[string]any{"$ref": "#/definitions/Intrinsic"}

// allowIntrinsics wraps every typed subschema as anyOf [it, Intrinsic],
// walking only schema positions (never property names).
func allowIntrinsics(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for _, k := range []string{"properties", "patternProperties", "definitions"} {
		if props := obj(m[k]); props != nil {
			for name, sub := range props {
				props[name] = allowIntrinsics(sub)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub := obj(m[k]); sub != nil {
			m[k] = allowIntrinsics(sub)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		for i, sub := range list(m[k]) {
			list(m[k])[i] = allowIntrinsics(sub)
		}
	}
	_, typed := m["type"]
	_, ref := m["$ref"]
	if typed || ref {
		return map[string]any{"anyOf": []any{m, intrinsic}}
	}
	return m
}
