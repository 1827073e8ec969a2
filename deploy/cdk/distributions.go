package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	cf "github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
)

// Managed CloudFront policies, by their fixed IDs.
const (
	cachingDisabled           = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" // Managed-CachingDisabled
	allViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac" // Managed-AllViewerExceptHostHeader
)

// distributions: the public gateway (cached) and the admin API (not
// cached), both in front of the one ALB.
type distributions struct {
	gateway, admin cf.CfnDistribution
}

func newDistributions(f *FlotillaStack) distributions {
	// CloudFront reaches the ALB over HTTPS at OriginDomainName when a
	// certificate is given, else over HTTP at the ALB's own name: a hop
	// inside AWS's network to an ALB that admits only CloudFront.
	origin := func(id, route string) *cf.CfnDistribution_OriginProperty {
		return &cf.CfnDistribution_OriginProperty{
			Id:         s(id),
			DomainName: ifStr(f.c.hasCert, f.p.originDomain.ValueAsString(), f.lb.alb.AttrDnsName()),
			CustomOriginConfig: &cf.CfnDistribution_CustomOriginConfigProperty{
				OriginProtocolPolicy: ifStr(f.c.hasCert, "https-only", "http-only"),
				HttpPort:             n(80), HttpsPort: n(443),
				OriginSslProtocols: &[]*string{s("TLSv1.2")},
				// Long /add uploads and large CAR downloads.
				OriginReadTimeout: n(60), OriginKeepaliveTimeout: n(60),
			},
			OriginCustomHeaders: &[]interface{}{&cf.CfnDistribution_OriginCustomHeaderProperty{
				HeaderName: s(routeHeader), HeaderValue: s(route),
			}},
		}
	}

	// Gateway cache policy: TTLs come from the origin's Cache-Control
	// (immutable /ipfs/ responses carry a year; /ipns/ a short max-age),
	// nothing is cached without one (default TTL 0). Accept is in the key
	// because the gateway negotiates raw blocks and CARs on it; query
	// strings because of ?format=, ?filename=, ?download=.
	gatewayCache := cf.NewCfnCachePolicy(f.stack, s("GatewayCachePolicy"), &cf.CfnCachePolicyProps{
		CachePolicyConfig: &cf.CfnCachePolicy_CachePolicyConfigProperty{
			Name:    awscdk.Fn_Sub(s("${AWS::StackName}-gateway"), nil),
			Comment: s("flotilla gateway: honour the origin's Cache-Control"),
			MinTtl:  n(0), DefaultTtl: n(0), MaxTtl: n(31536000),
			ParametersInCacheKeyAndForwardedToOrigin: &cf.CfnCachePolicy_ParametersInCacheKeyAndForwardedToOriginProperty{
				EnableAcceptEncodingGzip: b(true), EnableAcceptEncodingBrotli: b(true),
				HeadersConfig:      &cf.CfnCachePolicy_HeadersConfigProperty{HeaderBehavior: s("whitelist"), Headers: &[]*string{s("Accept")}},
				QueryStringsConfig: &cf.CfnCachePolicy_QueryStringsConfigProperty{QueryStringBehavior: s("all")},
				CookiesConfig:      &cf.CfnCachePolicy_CookiesConfigProperty{CookieBehavior: s("none")},
			},
		},
	})
	var d distributions
	d.gateway = cf.NewCfnDistribution(f.stack, s("GatewayDistribution"), &cf.CfnDistributionProps{
		DistributionConfig: &cf.CfnDistribution_DistributionConfigProperty{
			Enabled: b(true), Comment: awscdk.Fn_Sub(s("${AWS::StackName} IPFS gateway"), nil),
			HttpVersion: s("http2and3"), Ipv6Enabled: b(true),
			Origins: &[]interface{}{origin("gateway", "gateway")},
			DefaultCacheBehavior: &cf.CfnDistribution_DefaultCacheBehaviorProperty{
				TargetOriginId: s("gateway"), ViewerProtocolPolicy: s("redirect-to-https"),
				CachePolicyId: gatewayCache.Ref(), Compress: b(true),
				AllowedMethods: &[]*string{s("GET"), s("HEAD"), s("OPTIONS")},
				CachedMethods:  &[]*string{s("GET"), s("HEAD")},
			},
		},
	})

	// Admin API: the REST API at /, the Pinning Service API under
	// /pinning (a CloudFront Function strips the prefix, so the daemon
	// sees /pins for both, each on its own target group). Nothing is
	// cached; every method and every viewer header but Host (the ALB's
	// or OriginDomainName's name must stay the Host, for TLS and routing)
	// reaches the origin, Authorization included, which CloudFront allows
	// with caching disabled.
	strip := cf.NewCfnFunction(f.stack, s("StripPinningPrefix"), &cf.CfnFunctionProps{
		Name:         awscdk.Fn_Sub(s("${AWS::StackName}-strip-pinning"), nil),
		AutoPublish:  b(true),
		FunctionCode: s("function handler(event) {\n  var r = event.request;\n  r.uri = r.uri.replace(/^\\/pinning/, '') || '/';\n  return r;\n}\n"),
		FunctionConfig: &cf.CfnFunction_FunctionConfigProperty{
			Comment: s("/pinning/pins -> /pins for the Pinning Service API"), Runtime: s("cloudfront-js-2.0"),
		},
	})
	all := &[]*string{s("GET"), s("HEAD"), s("OPTIONS"), s("PUT"), s("PATCH"), s("POST"), s("DELETE")}
	d.admin = cf.NewCfnDistribution(f.stack, s("AdminDistribution"), &cf.CfnDistributionProps{
		DistributionConfig: &cf.CfnDistribution_DistributionConfigProperty{
			Enabled: b(true), Comment: awscdk.Fn_Sub(s("${AWS::StackName} admin API"), nil),
			HttpVersion: s("http2and3"), Ipv6Enabled: b(true),
			Origins: &[]interface{}{origin("api", "api"), origin("pinsvc", "pinsvc")},
			DefaultCacheBehavior: &cf.CfnDistribution_DefaultCacheBehaviorProperty{
				TargetOriginId: s("api"), ViewerProtocolPolicy: s("https-only"),
				CachePolicyId: s(cachingDisabled), OriginRequestPolicyId: s(allViewerExceptHostHeader),
				AllowedMethods: all, CachedMethods: &[]*string{s("GET"), s("HEAD")}, Compress: b(false),
			},
			CacheBehaviors: &[]interface{}{&cf.CfnDistribution_CacheBehaviorProperty{
				PathPattern: s("/pinning/*"), TargetOriginId: s("pinsvc"), ViewerProtocolPolicy: s("https-only"),
				CachePolicyId: s(cachingDisabled), OriginRequestPolicyId: s(allViewerExceptHostHeader),
				AllowedMethods: all, CachedMethods: &[]*string{s("GET"), s("HEAD")}, Compress: b(false),
				FunctionAssociations: &[]interface{}{&cf.CfnDistribution_FunctionAssociationProperty{
					EventType: s("viewer-request"), FunctionArn: strip.AttrFunctionArn(),
				}},
			}},
		},
	})
	return d
}
