package k8s

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/healthcare-prediction/api/internal/testutil"
)

// publicOverlays are the internet-facing environments: production's shape
// (k8s/components/production), behind infra/edge.yaml.
var publicOverlays = []string{"overlays/staging", "overlays/prod"}

// cfn reads a CloudFormation template of infra/ as plain data: intrinsic
// function tags (!Sub, !Ref, ...) are dropped and their arguments kept.
func cfn(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "infra", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("infra/%s: %v", name, err)
	}
	return m
}

// at walks nested maps and lists of a decoded template by keys and indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// attributes parses a load-balancer-attributes annotation (k1=v1,k2=v2).
func attributes(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("load-balancer-attributes %q: %q is not key=value", s, kv)
		}
		out[k] = v
	}
	return out
}

// Every ALB listens on HTTPS 443 only: no plaintext port where a key or a
// clinical value could travel before a redirect.
func TestListenersHTTPSOnly(t *testing.T) {
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		a := r.ing.Annotations
		var ports []map[string]int
		if err := json.Unmarshal([]byte(a["alb.ingress.kubernetes.io/listen-ports"]), &ports); err != nil {
			t.Fatalf("listen-ports %q: %v", a["alb.ingress.kubernetes.io/listen-ports"], err)
		}
		if len(ports) != 1 || len(ports[0]) != 1 || ports[0]["HTTPS"] != 443 {
			t.Errorf("listen-ports = %v, want HTTPS 443 only", ports)
		}
		if v, ok := a["alb.ingress.kubernetes.io/ssl-redirect"]; ok {
			t.Errorf("ssl-redirect = %q: there is no HTTP listener to redirect from", v)
		}
		lb := attributes(t, a["alb.ingress.kubernetes.io/load-balancer-attributes"])
		if lb["idle_timeout.timeout_seconds"] != "60" || lb["routing.http.drop_invalid_header_fields.enabled"] != "true" {
			t.Errorf("load-balancer-attributes = %v, want idle timeout 60 and invalid headers dropped", lb)
		}
	})
}

// The public ALBs carry the web ACL and the access-log bucket that
// infra/edge.yaml creates, and cannot be deleted by accident.
func TestPublicEdge(t *testing.T) {
	tmpl := cfn(t, "edge.yaml")
	res := at(tmpl, "Resources")
	envs, _ := at(tmpl, "Parameters", "EnvironmentName", "AllowedValues").([]any)
	aclName := at(res, "WebAcl", "Properties", "Name")
	policy := at(res, "AccessLogBucketPolicy", "Properties", "PolicyDocument", "Statement", 0)
	logPrefix := regexp.MustCompile(`^\$\{AccessLogBucket\.Arn\}/([a-z0-9-]+)/AWSLogs/\$\{AWS::AccountId\}/\*$`).
		FindStringSubmatch(at(policy, "Resource").(string))
	if aclName != "healthcare-api-${EnvironmentName}" || logPrefix == nil ||
		at(policy, "Principal", "Service") != "logdelivery.elasticloadbalancing.amazonaws.com" {
		t.Fatalf("infra/edge.yaml: web ACL name %v, access-log policy %v: not what the manifests rely on", aclName, policy)
	}
	bucket := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	for _, dir := range publicOverlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			env := filepath.Base(dir)
			if !slices.Contains(envs, any(env)) {
				t.Errorf("infra/edge.yaml EnvironmentName does not allow %s", env)
			}
			a := r.ing.Annotations
			region := r.cm.Data["AWS_REGION"]
			acl := regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:` + regexp.QuoteMeta(region) + `:\d{12}:regional/webacl/healthcare-api-` + env + `/[0-9a-f-]{36}$`)
			if got := a["alb.ingress.kubernetes.io/wafv2-acl-arn"]; !acl.MatchString(got) {
				t.Errorf("wafv2-acl-arn = %q, want the regional web ACL healthcare-api-%s of infra/edge.yaml in %s", got, env, region)
			}
			lb := attributes(t, a["alb.ingress.kubernetes.io/load-balancer-attributes"])
			if lb["deletion_protection.enabled"] != "true" {
				t.Errorf("deletion_protection.enabled = %q, want true", lb["deletion_protection.enabled"])
			}
			if lb["access_logs.s3.enabled"] != "true" || !bucket.MatchString(lb["access_logs.s3.bucket"]) || lb["access_logs.s3.prefix"] != logPrefix[1] {
				t.Errorf("access logs = enabled %q, bucket %q, prefix %q; want enabled into a bucket under the prefix %q that infra/edge.yaml lets ELB write to",
					lb["access_logs.s3.enabled"], lb["access_logs.s3.bucket"], lb["access_logs.s3.prefix"], logPrefix[1])
			}
		})
	}
}

// The web ACL: managed rule groups, a rate limit per source address and
// one per X-API-Key value, and neither the key nor Authorization in its
// logs or reports.
func TestWebACL(t *testing.T) {
	res := at(cfn(t, "edge.yaml"), "Resources")
	acl := at(res, "WebAcl", "Properties")
	if at(acl, "Scope") != "REGIONAL" || at(acl, "DefaultAction", "Allow") == nil {
		t.Errorf("web ACL scope %v, default %v: want REGIONAL (an ALB) and allow", at(acl, "Scope"), at(acl, "DefaultAction"))
	}
	var managed []string
	var perIP, perKey bool
	rules, _ := at(acl, "Rules").([]any)
	for _, rule := range rules {
		if g := at(rule, "Statement", "ManagedRuleGroupStatement"); g != nil && at(g, "VendorName") == "AWS" {
			managed = append(managed, at(g, "Name").(string))
			if at(rule, "OverrideAction", "None") == nil {
				t.Errorf("managed rule group %v does not block (OverrideAction is not None)", at(g, "Name"))
			}
		}
		rb := at(rule, "Statement", "RateBasedStatement")
		if rb == nil {
			continue
		}
		if at(rule, "Action", "Block") == nil {
			t.Errorf("rate-based rule %v does not block", at(rule, "Name"))
		}
		switch at(rb, "AggregateKeyType") {
		case "IP":
			perIP = true
		case "CUSTOM_KEYS":
			keys, _ := at(rb, "CustomKeys").([]any)
			perKey = len(keys) == 1 && strings.EqualFold(at(keys[0], "Header", "Name").(string), "x-api-key")
		}
	}
	for _, want := range []string{"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} {
		if !slices.Contains(managed, want) {
			t.Errorf("the web ACL lacks the AWS managed rule group %s", want)
		}
	}
	if !perIP || !perKey {
		t.Errorf("rate limits per IP %v, per X-API-Key %v; want both", perIP, perKey)
	}

	logging := at(res, "WafLogging", "Properties")
	var redacted []string
	fields, _ := at(logging, "RedactedFields").([]any)
	for _, f := range fields {
		if n, ok := at(f, "SingleHeader", "Name").(string); ok {
			redacted = append(redacted, strings.ToLower(n))
		}
	}
	protected := map[string]bool{}
	dp, _ := at(acl, "DataProtectionConfig", "DataProtections").([]any)
	for _, p := range dp {
		keys, _ := at(p, "Field", "FieldKeys").([]any)
		if at(p, "Field", "FieldType") == "SINGLE_HEADER" && len(keys) == 1 &&
			at(p, "ExcludeRuleMatchDetails") == false && at(p, "ExcludeRateBasedDetails") == false {
			protected[strings.ToLower(keys[0].(string))] = true
		}
	}
	// The query string (GET /predict?... carries clinical values): redacted
	// in logs, and protected where logging's redaction does not reach
	// (sampled requests, rule match details).
	queryLogged, queryProtected := true, false
	for _, f := range fields {
		if at(f, "QueryString") != nil {
			queryLogged = false
		}
	}
	for _, p := range dp {
		if at(p, "Field", "FieldType") == "QUERY_STRING" && at(p, "Field", "FieldKeys") == nil &&
			at(p, "ExcludeRuleMatchDetails") == false && at(p, "ExcludeRateBasedDetails") == false {
			queryProtected = true
		}
	}
	if queryLogged || !queryProtected {
		t.Errorf("query string: in WAF logs %v, in data protection %v; want redacted and protected", queryLogged, queryProtected)
	}
	// Rules of AWSManagedRulesCommonRuleSet that would refuse valid API
	// calls count instead: no User-Agent (.NET HttpClient sends none), a
	// body over WAF's 8 KB (the server caps bodies at 64 KiB itself).
	counted := map[string]bool{}
	for _, rule := range rules {
		if at(rule, "Statement", "ManagedRuleGroupStatement", "Name") != "AWSManagedRulesCommonRuleSet" {
			continue
		}
		overrides, _ := at(rule, "Statement", "ManagedRuleGroupStatement", "RuleActionOverrides").([]any)
		for _, o := range overrides {
			if at(o, "ActionToUse", "Count") != nil {
				counted[at(o, "Name").(string)] = true
			}
		}
	}
	for _, r := range []string{"NoUserAgent_HEADER", "SizeRestrictions_BODY"} {
		if !counted[r] {
			t.Errorf("AWSManagedRulesCommonRuleSet's %s blocks valid API calls: override it to Count", r)
		}
	}
	for _, h := range []string{"authorization", "x-api-key"} {
		if !slices.Contains(redacted, h) {
			t.Errorf("WAF logs do not redact the %s header", h)
		}
		if !protected[h] {
			t.Errorf("the web ACL's data protection does not cover %s (rule match details, rate-based keys, samples)", h)
		}
	}
	if dest := at(logging, "LogDestinationConfigs", 0); dest == nil || !strings.Contains(dest.(string), "${WafLogGroup}") ||
		!strings.HasPrefix(at(res, "WafLogGroup", "Properties", "LogGroupName").(string), "aws-waf-logs-") {
		t.Errorf("WAF logging goes to %v, want the aws-waf-logs- log group of the template", dest)
	}
}

// Every value that a public overlay's values.env takes from infra/ names an
// output the template really has.
func TestValuesNameInfraOutputs(t *testing.T) {
	outputs := regexp.MustCompile(`infra/([a-z-]+\.yaml) output (\w+)`)
	for _, dir := range overlays {
		src, err := os.ReadFile(filepath.Join(dir, "values.env"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range outputs.FindAllStringSubmatch(string(src), -1) {
			if at(cfn(t, m[1]), "Outputs", m[2]) == nil {
				t.Errorf("%s/values.env: infra/%s has no output %s", dir, m[1], m[2])
			}
		}
	}
	for _, dir := range publicOverlays {
		src, _ := os.ReadFile(filepath.Join(dir, "values.env"))
		for _, want := range []string{"infra/edge.yaml output WebAclArn", "infra/edge.yaml output AccessLogBucketName"} {
			if !strings.Contains(string(src), want) {
				t.Errorf("%s/values.env does not say where its value comes from: %q", dir, want)
			}
		}
	}
}

// endpointURLOnly are the services whose interface endpoints have no
// private DNS, with the variable that gives the client the endpoint's own
// DNS name. AWS PrivateLink for DynamoDB does not support private DNS
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/privatelink-interface-endpoints.html,
// "Considerations"): the pods call it by the endpoint's Regional name.
var endpointURLOnly = map[string]string{"dynamodb": "AWS_ENDPOINT_URL_DYNAMODB"}

// awsjsonServices reads internal/awsjson's Service variables: name ->
// the Service literal's fields (Host is the endpoint service's last part,
// com.amazonaws.<region>.<Host>; EndpointVar the client's endpoint URL
// variable).
func awsjsonServices(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "internal", "awsjson", "awsjson.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, v := range vs.Values {
				lit, ok := v.(*ast.CompositeLit)
				if !ok {
					continue
				}
				if typ, ok := lit.Type.(*ast.Ident); !ok || typ.Name != "Service" {
					continue
				}
				fields := map[string]string{}
				for _, e := range lit.Elts {
					kv := e.(*ast.KeyValueExpr)
					if b, ok := kv.Value.(*ast.BasicLit); ok && b.Kind == token.STRING {
						fields[kv.Key.(*ast.Ident).Name], _ = strconv.Unquote(b.Value)
					}
				}
				out[vs.Names[i].Name] = fields
			}
		}
	}
	if out["SecretsManager"]["Host"] != "secretsmanager" || out["DynamoDB"]["Host"] != "dynamodb" {
		t.Fatalf("internal/awsjson services %v: want SecretsManager and DynamoDB with their Host", out)
	}
	return out
}

// Every AWS API the server's code calls, plus STS for IRSA, has an
// interface endpoint in infra/vpc-endpoints.yaml, whose security group
// admits HTTPS from the VPC CIDR that the public overlays' egress policy
// allows. The code reaches AWS through SDK service clients and through
// internal/awsjson's services (Secrets Manager, DynamoDB), which import no
// SDK client: both count. Each endpoint has private DNS, unless its
// service has none (endpointURLOnly): then the stack outputs the
// endpoint's own DNS name, and the client reads its endpoint variable.
func TestVPCEndpointsCoverTheCode(t *testing.T) {
	// The AWS SDK client package -> the endpoint service it reaches.
	endpointOf := map[string]string{"secretsmanager": "secretsmanager", "cloudwatch": "monitoring", "sts": "sts"}
	need := map[string]bool{"sts": true, "logs": true} // IRSA's credentials; node log shippers
	imports := regexp.MustCompile(`"github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)"`)
	services := awsjsonServices(t)
	uses := regexp.MustCompile(`\bawsjson\.([A-Z]\w*)\b`)
	// Only the code linked into the container: the Lambda-only packages
	// (the pre-traffic hook's Lambda and CodeDeploy clients) never run in
	// the cluster.
	files, err := testutil.LinkedSources("..", "./functions/server")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range imports.FindAllStringSubmatch(string(src), -1) {
			svc, ok := endpointOf[m[1]]
			if !ok {
				t.Errorf("%s calls AWS %s: add its interface endpoint to infra/vpc-endpoints.yaml and to endpointOf", path, m[1])
			}
			need[svc] = true
		}
		if filepath.Base(filepath.Dir(path)) == "awsjson" {
			continue // declares the services; the callers name them
		}
		for _, m := range uses.FindAllStringSubmatch(string(src), -1) {
			if s, ok := services[m[1]]; ok {
				need[s["Host"]] = true
			}
		}
	}
	if !need["secretsmanager"] || !need["monitoring"] || !need["dynamodb"] {
		t.Fatalf("found no Secrets Manager, CloudWatch or DynamoDB client in the server: %v", need)
	}
	tmpl := cfn(t, "vpc-endpoints.yaml")
	have := map[string]bool{}
	for name, r := range at(tmpl, "Resources").(map[string]any) {
		if at(r, "Type") != "AWS::EC2::VPCEndpoint" {
			continue
		}
		p := at(r, "Properties")
		svc, ok := strings.CutPrefix(at(p, "ServiceName").(string), "com.amazonaws.${AWS::Region}.")
		if !ok || at(p, "VpcEndpointType") != "Interface" {
			t.Errorf("%s: %v, want an Interface endpoint of com.amazonaws.${AWS::Region}.<service>", name, p)
		}
		have[svc] = true
		variable, byURL := endpointURLOnly[svc]
		if !byURL {
			if at(p, "PrivateDnsEnabled") != true {
				t.Errorf("%s: PrivateDnsEnabled %v, want true: the pods call %s by its usual name", name, at(p, "PrivateDnsEnabled"), svc)
			}
			continue
		}
		// No private DNS: the stack gives the endpoint's Regional DNS name
		// (the first of DnsEntries, "zone:name") as an https URL, which the
		// client takes from its endpoint variable.
		if at(p, "PrivateDnsEnabled") != false {
			t.Errorf("%s: PrivateDnsEnabled %v, want false: %s has no private DNS for interface endpoints", name, at(p, "PrivateDnsEnabled"), svc)
		}
		var output string
		for o, v := range at(tmpl, "Outputs").(map[string]any) {
			if at(v, "Value", 0) == "https://${Name}" && fmt.Sprint(at(v, "Value", 1, "Name")) == fmt.Sprintf("[1 [: [0 %s.DnsEntries]]]", name) {
				output = o
			}
		}
		if output == "" {
			t.Errorf("%s: no output gives https:// and the first of its DnsEntries' names (the Regional one)", name)
		}
		found := false
		for _, s := range services {
			found = found || (s["Host"] == svc && s["EndpointVar"] == variable)
		}
		if !found {
			t.Errorf("%s: no internal/awsjson service of %s reads %s", name, svc, variable)
		}
	}
	for svc := range need {
		if !have[svc] {
			t.Errorf("infra/vpc-endpoints.yaml has no endpoint for %s", svc)
		}
	}
	in := at(tmpl, "Resources", "EndpointSecurityGroup", "Properties", "SecurityGroupIngress", 0)
	if at(in, "IpProtocol") != "tcp" || at(in, "FromPort") != 443 || at(in, "ToPort") != 443 || at(in, "CidrIp") != "VpcCidr" {
		t.Errorf("endpoint security group ingress = %v, want TCP 443 from VpcCidr", in)
	}
}

// replayActions are the IAM actions of the DynamoDB calls internal/replay
// makes, read from its source: the operation named in each
// <client>.Call(ctx, "Operation", body).
func replayActions(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "internal", "replay")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Call" || len(call.Args) != 3 {
				return true
			}
			op, ok := call.Args[1].(*ast.BasicLit)
			if !ok || op.Kind != token.STRING {
				t.Errorf("%s: a Call whose operation is not a string literal: the endpoint policy cannot be checked against it", path)
				return true
			}
			name, _ := strconv.Unquote(op.Value)
			if !slices.Contains(actions, "dynamodb:"+name) {
				actions = append(actions, "dynamodb:"+name)
			}
			return true
		})
	}
	if len(actions) == 0 {
		t.Fatal("internal/replay makes no DynamoDB Call")
	}
	slices.Sort(actions)
	return actions
}

// Every endpoint has a policy that admits only this account's principals
// (aws:PrincipalAccount); Secrets Manager only reads, and only the API-key
// secrets of the parameter; DynamoDB allows exactly the calls
// internal/replay makes, on the jti tables of its parameter only; STS
// admits web-identity calls (IRSA, which carry no AWS principal) only into
// this account's roles.
func TestVPCEndpointPolicies(t *testing.T) {
	tmpl := cfn(t, "vpc-endpoints.yaml")
	for _, p := range []string{"ApiKeysSecretArns", "CdsHooksReplayTableArns"} {
		if at(tmpl, "Parameters", p, "Type") != "CommaDelimitedList" {
			t.Errorf("infra/vpc-endpoints.yaml has no %s list parameter", p)
		}
	}
	wantDynamo := replayActions(t)
	n := 0
	for name, r := range at(tmpl, "Resources").(map[string]any) {
		if at(r, "Type") != "AWS::EC2::VPCEndpoint" {
			continue
		}
		n++
		svc := strings.TrimPrefix(at(r, "Properties", "ServiceName").(string), "com.amazonaws.${AWS::Region}.")
		stmts, _ := at(r, "Properties", "PolicyDocument", "Statement").([]any)
		if len(stmts) == 0 {
			t.Errorf("%s: no endpoint policy: the default lets any principal of any account through", name)
		}
		for i, st := range stmts {
			if at(st, "Effect") != "Allow" {
				continue
			}
			account := at(st, "Condition", "StringEquals", "aws:PrincipalAccount") == "AWS::AccountId"
			switch {
			case svc == "sts" && at(st, "Action") == "sts:AssumeRoleWithWebIdentity":
				if at(st, "Resource") != "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*" {
					t.Errorf("%s statement %d: web identity into %v, want this account's roles only", name, i, at(st, "Resource"))
				}
			case !account:
				t.Errorf("%s statement %d: allows without aws:PrincipalAccount = the stack's account: %v", name, i, st)
			case svc == "secretsmanager":
				if at(st, "Resource") != "ApiKeysSecretArns" {
					t.Errorf("%s statement %d: resource %v, want the API-key secrets (ApiKeysSecretArns) only", name, i, at(st, "Resource"))
				}
				for _, a := range at(st, "Action").([]any) {
					if a != "secretsmanager:GetSecretValue" && a != "secretsmanager:DescribeSecret" {
						t.Errorf("%s statement %d: allows %v; the pods only read their secret", name, i, a)
					}
				}
			case svc == "dynamodb":
				if at(st, "Resource") != "CdsHooksReplayTableArns" {
					t.Errorf("%s statement %d: resource %v, want the jti tables (CdsHooksReplayTableArns) only", name, i, at(st, "Resource"))
				}
				var got []string
				for _, a := range at(st, "Action").([]any) {
					got = append(got, fmt.Sprint(a))
				}
				slices.Sort(got)
				if !slices.Equal(got, wantDynamo) {
					t.Errorf("%s statement %d: actions %v, want exactly the calls of internal/replay %v", name, i, got, wantDynamo)
				}
			case svc != "sts" && svc != "monitoring" && svc != "logs":
				t.Errorf("%s statement %d: no check of what the %s endpoint allows: add one here", name, i, svc)
			}
		}
	}
	if n == 0 {
		t.Fatal("infra/vpc-endpoints.yaml has no endpoints")
	}
}

// cfnLong reads a CloudFormation template of infra/ with its short-form
// intrinsic functions in their long form ({"Fn::Not": ...}, {"Ref": ...}),
// as CloudFormation sees them, so that conditions can be evaluated.
func cfnLong(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "infra", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("infra/%s: %v", name, err)
	}
	var long func(n *yaml.Node) any
	long = func(n *yaml.Node) any {
		var v any
		switch n.Kind {
		case yaml.DocumentNode:
			return long(n.Content[0])
		case yaml.AliasNode:
			return long(n.Alias)
		case yaml.MappingNode:
			m := map[string]any{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				m[n.Content[i].Value] = long(n.Content[i+1])
			}
			v = m
		case yaml.SequenceNode:
			l := []any{}
			for _, c := range n.Content {
				l = append(l, long(c))
			}
			v = l
		default:
			if strings.HasPrefix(n.Tag, "!!") {
				if err := n.Decode(&v); err != nil {
					t.Fatalf("infra/%s line %d: %v", name, n.Line, err)
				}
			} else {
				v = n.Value
			}
		}
		fn, ok := strings.CutPrefix(n.Tag, "!")
		if !ok || strings.HasPrefix(fn, "!") {
			return v
		}
		switch fn {
		case "Ref", "Condition":
			return map[string]any{fn: v}
		case "GetAtt":
			if s, ok := v.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				v = []any{res, attr}
			}
		}
		return map[string]any{"Fn::" + fn: v}
	}
	m, _ := long(&doc).(map[string]any)
	return m
}

// cfnEval evaluates the intrinsic functions this repository's conditions
// use, with parameter values (lists for list parameters; a parameter not
// given takes its default, a CommaDelimitedList's split at commas).
func cfnEval(t *testing.T, tmpl map[string]any, v any, params map[string]any) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if len(m) != 1 {
		t.Fatalf("cannot evaluate %v", v)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			name := arg.(string)
			if p, ok := params[name]; ok {
				return p
			}
			def := fmt.Sprint(at(tmpl, "Parameters", name, "Default"))
			if at(tmpl, "Parameters", name, "Type") == "CommaDelimitedList" {
				var l []any
				for _, s := range strings.Split(def, ",") {
					l = append(l, s)
				}
				return l
			}
			return def
		case "Condition":
			return cfnEval(t, tmpl, at(tmpl, "Conditions", arg.(string)), params)
		case "Fn::Not":
			return !cfnEval(t, tmpl, args[0], params).(bool)
		case "Fn::Equals":
			return fmt.Sprint(cfnEval(t, tmpl, args[0], params)) == fmt.Sprint(cfnEval(t, tmpl, args[1], params))
		case "Fn::Join":
			var parts []string
			list := cfnEval(t, tmpl, args[1], params)
			if l, ok := list.([]any); ok {
				for _, p := range l {
					parts = append(parts, fmt.Sprint(cfnEval(t, tmpl, p, params)))
				}
			} else if l, ok := list.([]string); ok {
				parts = l
			}
			return strings.Join(parts, args[0].(string))
		}
		t.Fatalf("cannot evaluate %s", fn)
	}
	return nil
}

// The DynamoDB endpoint (and the output the overlay takes its URL from)
// exists exactly when the stack is given jti tables: none by default or
// with an empty list, one for one table or several. Its policy names the
// parameter itself, so it serves exactly the tables given.
func TestDynamoDBEndpointCondition(t *testing.T) {
	tmpl := cfnLong(t, "vpc-endpoints.yaml")
	var endpoint string
	for name, r := range at(tmpl, "Resources").(map[string]any) {
		if fmt.Sprint(at(r, "Properties", "ServiceName")) == "map[Fn::Sub:com.amazonaws.${AWS::Region}.dynamodb]" {
			endpoint = name
		}
	}
	if endpoint == "" {
		t.Fatal("infra/vpc-endpoints.yaml has no com.amazonaws.${AWS::Region}.dynamodb endpoint")
	}
	cond, _ := at(tmpl, "Resources", endpoint, "Condition").(string)
	if cond == "" {
		t.Fatalf("%s has no Condition: it would be created (and billed) in VPCs whose clusters have no jti table", endpoint)
	}
	if got := fmt.Sprint(at(tmpl, "Resources", endpoint, "Properties", "PolicyDocument", "Statement", 0, "Resource")); got != "map[Ref:CdsHooksReplayTableArns]" {
		t.Errorf("%s policy resource %s, want !Ref CdsHooksReplayTableArns", endpoint, got)
	}
	for name, o := range at(tmpl, "Outputs").(map[string]any) {
		b, _ := json.Marshal(o)
		if strings.Contains(string(b), `"`+endpoint+`"`) && at(o, "Condition") != cond {
			t.Errorf("output %s uses %s without its condition %s", name, endpoint, cond)
		}
	}
	// The endpoint's id too: the Regional name the URL output picks (the
	// first of DnsEntries) can be checked against describe-vpc-endpoints,
	// since the entries may reorder when SubnetIds change (docs/eks.md).
	if id := at(tmpl, "Outputs", "DynamoDbEndpointId"); fmt.Sprint(at(id, "Value")) != "map[Ref:"+endpoint+"]" || at(id, "Condition") != cond {
		t.Errorf("output DynamoDbEndpointId = %v, want !Ref %s under %s", id, endpoint, cond)
	}
	arn := func(table string) string { return "arn:aws:dynamodb:eu-west-1:345678901234:table/" + table }
	for _, c := range []struct {
		name   string
		params map[string]any
		want   bool
	}{
		{"the default", map[string]any{}, false},
		{"an empty list", map[string]any{"CdsHooksReplayTableArns": []any{""}}, false},
		{"one table", map[string]any{"CdsHooksReplayTableArns": []any{arn("prod-healthcare-api-cds-replay")}}, true},
		{"two tables", map[string]any{"CdsHooksReplayTableArns": []any{arn("staging-healthcare-api-cds-replay"), arn("prod-healthcare-api-cds-replay")}}, true},
	} {
		if got := cfnEval(t, tmpl, map[string]any{"Condition": cond}, c.params); got != c.want {
			t.Errorf("%s: condition %s = %v, want %v", c.name, cond, got, c.want)
		}
	}
}

// CdsHooksReplayTableArns takes table ARNs as infra/eks.yaml's output
// CdsHooksReplayTableArn gives them (!GetAtt of the table: arn:<partition>:
// dynamodb:<region>:<account>:table/<name>, for any name eks.yaml's
// CdsHooksReplayTableName allows), or nothing; a bare table name, an index
// or stream ARN or another service's is refused when the stack is
// deployed, not when the endpoint's policy is created. CloudFormation
// matches a CommaDelimitedList's AllowedPattern against each value
// (template reference, "Parameters", AllowedPattern), as here.
func TestReplayTableArnsPattern(t *testing.T) {
	endpoints := cfn(t, "vpc-endpoints.yaml")
	pattern, _ := at(endpoints, "Parameters", "CdsHooksReplayTableArns", "AllowedPattern").(string)
	if pattern == "" {
		t.Fatal("CdsHooksReplayTableArns has no AllowedPattern")
	}
	arns := regexp.MustCompile(pattern)
	names := regexp.MustCompile(at(cfn(t, "eks.yaml"), "Parameters", "CdsHooksReplayTableName", "AllowedPattern").(string))
	accepts := func(list string) bool {
		for _, v := range strings.Split(list, ",") {
			if !arns.MatchString(v) {
				return false
			}
		}
		return true
	}
	if def := fmt.Sprint(at(endpoints, "Parameters", "CdsHooksReplayTableArns", "Default")); !accepts(def) {
		t.Errorf("the default %q does not match its own pattern", def)
	}
	output := func(partition, region, name string) string {
		if !names.MatchString(name) {
			t.Fatalf("infra/eks.yaml's CdsHooksReplayTableName refuses %q; pick names it allows", name)
		}
		return "arn:" + partition + ":dynamodb:" + region + ":345678901234:table/" + name
	}
	prod := output("aws", "eu-west-1", "prod-healthcare-api-cds-replay")
	for _, ok := range []string{
		"",
		prod,
		output("aws", "eu-west-1", "staging-healthcare-api-cds-replay") + "," + prod,
		output("aws-cn", "cn-north-1", "abc"),
		output("aws-us-gov", "us-gov-west-1", "a_b.c-1"),
		output("aws", "ap-southeast-7", strings.Repeat("t", 255)),
	} {
		if !accepts(ok) {
			t.Errorf("CdsHooksReplayTableArns refuses %q", ok)
		}
	}
	for _, bad := range []string{
		"prod-healthcare-api-cds-replay",
		prod + ",prod-healthcare-api-cds-replay",
		prod + "/index/by-expiry",
		prod + "/stream/2026-12-05T13:00:00.000",
		"arn:aws:dynamodb:eu-west-1:345678901234:table/*",
		"arn:aws:dynamodb:eu-west-1:34567890123:table/prod-healthcare-api-cds-replay",
		"arn:aws:s3:::prod-healthcare-api-cds-replay",
		"arn:aws:dynamodb:eu-west-1:345678901234:table/ab",
	} {
		if accepts(bad) {
			t.Errorf("CdsHooksReplayTableArns accepts %q", bad)
		}
	}
}

// The endpoint stack's VpcCidr takes the VPC_CIDRs the deploy guard passes
// (scripts/cidr.sh: /16 to /28, no leading zeros), so the security group
// and the NetworkPolicy name the same block; it refuses what the guard does.
func TestVpcCidrPattern(t *testing.T) {
	pattern, _ := at(cfn(t, "vpc-endpoints.yaml"), "Parameters", "VpcCidr", "AllowedPattern").(string)
	cidr := regexp.MustCompile(pattern)
	for _, env := range []string{"staging", "prod"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "values", env+".env"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^VPC_CIDR=(.+)$`).FindSubmatch(raw)
		if m == nil || !cidr.Match(m[1]) {
			t.Errorf("%s: VpcCidr refuses the test VPC_CIDR %q", env, m)
		}
	}
	for _, ok := range []string{"10.20.0.0/16", "172.31.0.0/16", "192.168.1.0/28", "100.64.0.0/20"} {
		if !cidr.MatchString(ok) {
			t.Errorf("VpcCidr refuses %s", ok)
		}
	}
	for _, bad := range []string{"10.0.0.0/8", "10.20.0.0/15", "10.20.0.0/29", "010.20.0.0/16", "10.20.0.0/016", "256.1.1.0/16", "0.0.0.0/0", "10.20.0.0"} {
		if cidr.MatchString(bad) {
			t.Errorf("VpcCidr accepts %s", bad)
		}
	}
}
