package main

import (
	"fmt"
	"strings"
	"testing"
)

// The registry is a listener of its own on the ALB, 5000 over HTTPS with
// the origin certificate, admitting RegistryCidr directly (no CloudFront),
// forwarding to a target group of the three tasks that checks /ready; it
// exists only with a certificate and a RegistryCidr, and then every
// service registers its task's port 5000 in that group and waits for the
// listener. Without them nothing of it is deployed and nothing names it.
func TestRegistryBehindTheAlb(t *testing.T) {
	const cert = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
	base := map[string]string{"ImageUri": "example/flotilla:v1"}
	with := func(kv ...string) map[string]string {
		p := map[string]string{}
		for k, v := range base {
			p[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		cidr   string // RegistryCidr; "": no registry listener
	}{
		{"certificate, default RegistryCidr", with("OriginCertificateArn", cert, "OriginDomainName", "origin.example.com"), "0.0.0.0/0"},
		{"certificate, one network", with("OriginCertificateArn", cert, "OriginDomainName", "origin.example.com", "RegistryCidr", "203.0.113.0/24"), "203.0.113.0/24"},
		{"certificate, RegistryCidr empty", with("OriginCertificateArn", cert, "OriginDomainName", "origin.example.com", "RegistryCidr", ""), ""},
		{"no certificate", with(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := resolve(t, tc.params)
			for _, b := range d.dangling() {
				t.Error(b)
			}
			on := tc.cidr != ""
			listener, hasListener := d.Resources["RegistryListener"]
			_, hasTG := d.Resources["RegistryTargetGroup"]
			ingress, hasIngress := d.Resources["AlbRegistryFromClients"]
			_, hasOutput := d.Outputs["RegistryHost"]
			if hasListener != on || hasTG != on || hasIngress != on || hasOutput != on {
				t.Fatalf("listener %t, target group %t, ingress %t, output %t; want all %t", hasListener, hasTG, hasIngress, hasOutput, on)
			}
			for id, sv := range d.ofType("AWS::ECS::Service") {
				if !contains(sv.DependsOn, "RegistryAttached") {
					t.Errorf("%s does not wait for the registry listener: %v", id, sv.DependsOn)
				}
				registered := false
				for _, l := range list(sv.Properties["LoadBalancers"]) {
					if js(obj(l)["TargetGroupArn"]) == `{"Ref":"RegistryTargetGroup"}` {
						registered = obj(l)["ContainerPort"] == float64(registryPort) && obj(l)["ContainerName"] == "flotilla"
					}
				}
				if registered != on {
					t.Errorf("%s: task registered in the registry's target group on 5000: %t, want %t (%s)", id, registered, on, js(sv.Properties["LoadBalancers"]))
				}
			}
			attached := js(d.Resources["RegistryAttached"].Metadata)
			if strings.Contains(attached, `"Ref":"RegistryListener"`) != on {
				t.Errorf("RegistryAttached refers to the listener: %s, want %t", attached, on)
			}
			if !on {
				return
			}
			p := listener.Properties
			if p["Protocol"] != "HTTPS" || p["Port"] != float64(registryPort) || js(p["Certificates"]) != `[{"CertificateArn":{"Ref":"OriginCertificateArn"}}]` ||
				!strings.HasPrefix(fmt.Sprint(p["SslPolicy"]), "ELBSecurityPolicy-TLS13") || js(p["LoadBalancerArn"]) != `{"Ref":"Alb"}` {
				t.Errorf("registry listener: %s", js(p))
			}
			if js(p["DefaultActions"]) != `[{"TargetGroupArn":{"Ref":"RegistryTargetGroup"},"Type":"forward"}]` {
				t.Errorf("registry listener forwards: %s", js(p["DefaultActions"]))
			}
			tg := d.Resources["RegistryTargetGroup"].Properties
			if tg["Port"] != float64(registryPort) || tg["HealthCheckPath"] != "/ready" || tg["HealthCheckPort"] != "9090" {
				t.Errorf("registry target group: %s", js(tg))
			}
			if strings.Contains(js(tg), "stickiness") {
				t.Errorf("registry target group is sticky; uploads are handed between nodes: %s", js(tg))
			}
			in := ingress.Properties // parameters stay Refs: resolve evaluates conditions only
			if js(in["CidrIp"]) != `{"Ref":"RegistryCidr"}` || in["FromPort"] != float64(registryPort) || in["ToPort"] != float64(registryPort) || in["IpProtocol"] != "tcp" ||
				js(in["GroupId"]) != `{"Fn::GetAtt":["AlbSecurityGroup","GroupId"]}` {
				t.Errorf("registry ingress: %s, want tcp 5000 from RegistryCidr on the ALB's group", js(in))
			}
			// No CloudFront origin sends anything to the registry's port.
			for id, dist := range d.ofType("AWS::CloudFront::Distribution") {
				if strings.Contains(js(dist.Properties), "5000") {
					t.Errorf("%s reaches the registry's port: %s", id, js(dist.Properties))
				}
			}
		})
	}
}

// Every task serves the registry on 5000, open to the ALB alone.
func TestTasksServeTheRegistry(t *testing.T) {
	tm := synth(t)
	for id, td := range ofType(tm, "AWS::ECS::TaskDefinition") {
		for _, c := range list(td.Properties["ContainerDefinitions"]) {
			env, port := "", false
			for _, e := range list(obj(c)["Environment"]) {
				if obj(e)["Name"] == "FLOTILLA_REGISTRY_LISTEN" {
					env = fmt.Sprint(obj(e)["Value"])
				}
			}
			for _, pm := range list(obj(c)["PortMappings"]) {
				port = port || obj(pm)["ContainerPort"] == float64(registryPort)
			}
			if env != "0.0.0.0:5000" || !port {
				t.Errorf("%s: FLOTILLA_REGISTRY_LISTEN %q, port mapping 5000 %t", id, env, port)
			}
		}
	}
	from := js(tm.Resources["TaskRegistryFromAlb"].Properties)
	if !strings.Contains(from, `"FromPort":5000`) || !strings.Contains(from, `"SourceSecurityGroupId":{"Fn::GetAtt":["AlbSecurityGroup","GroupId"]}`) {
		t.Errorf("TaskRegistryFromAlb: %s", from)
	}
}
