package k8s

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// resourceOf maps a kind (apiVersion and kind) to its API group and
// resource, for every kind the overlays render and a few they must not.
var resourceOf = map[string][2]string{
	"v1 ConfigMap":                             {"", "configmaps"},
	"v1 Service":                               {"", "services"},
	"v1 ServiceAccount":                        {"", "serviceaccounts"},
	"v1 Secret":                                {"", "secrets"},
	"apps/v1 Deployment":                       {"apps", "deployments"},
	"networking.k8s.io/v1 Ingress":             {"networking.k8s.io", "ingresses"},
	"networking.k8s.io/v1 NetworkPolicy":       {"networking.k8s.io", "networkpolicies"},
	"autoscaling/v2 HorizontalPodAutoscaler":   {"autoscaling", "horizontalpodautoscalers"},
	"policy/v1 PodDisruptionBudget":            {"policy", "poddisruptionbudgets"},
	"rbac.authorization.k8s.io/v1 Role":        {"rbac.authorization.k8s.io", "roles"},
	"rbac.authorization.k8s.io/v1 RoleBinding": {"rbac.authorization.k8s.io", "rolebindings"},
}

// deployerRules is what the deploy workflow does with objects: kubectl
// apply (get, create, patch), its prune of the allowlisted kinds (list,
// delete), rollout status (list and watch the Deployment, whatever the
// prune list holds), the deployed-commit annotation (patch) and rollout
// undo (the Deployment's ReplicaSets).
func deployerRules(t *testing.T, objects []object, pruned []string) []rbacv1.PolicyRule {
	t.Helper()
	var rules []rbacv1.PolicyRule
	add := func(group, resource string, verbs ...string) {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs})
	}
	for _, o := range objects {
		gr, ok := resourceOf[o.apiVersion+" "+o.kind]
		if !ok {
			t.Fatalf("%s %s: add its API group and resource to resourceOf", o.apiVersion, o.kind)
		}
		add(gr[0], gr[1], "get", "create", "patch")
		gv := o.apiVersion
		if !strings.Contains(gv, "/") {
			gv = "core/" + gv
		}
		if slices.Contains(pruned, gv+"/"+o.kind) {
			add(gr[0], gr[1], "list", "delete")
		}
		if o.kind == "Deployment" {
			add("apps", "deployments", "list", "watch")
			add("apps", "replicasets", "get", "list")
		}
	}
	return rules
}

// deployerRole is the Role k8s/bootstrap binds the CI deployer to.
func deployerRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	b := decode(kustomize(t, bootstrapDir))
	if len(b.roles) != 1 || len(b.bindings) != 1 {
		t.Fatalf("k8s/bootstrap: %d Roles, %d RoleBindings, want one each", len(b.roles), len(b.bindings))
	}
	rb, role := b.bindings[0], b.roles[0]
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || role.Namespace != namespace || rb.Namespace != namespace {
		t.Fatalf("RoleBinding %s binds %+v, want the Role %s in %s", rb.Name, rb.RoleRef, role.Name, namespace)
	}
	return role
}

func uncovered(role *rbacv1.Role, need []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	_, missing := validation.Covers(role.Rules, need)
	return missing
}

// kubectl rollout status lists and watches the Deployment (a field
// selector on its name): the Role grants both on its own, not only because
// the prune allowlist happens to hold Deployments.
func TestDeployerRoleWatchesDeployments(t *testing.T) {
	role := deployerRole(t)
	r := build(t, "overlays/prod")
	for _, v := range []string{"get", "list", "watch", "patch"} {
		need := []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{v}}}
		if m := uncovered(role, need); len(m) > 0 {
			t.Errorf("the deployer Role does not allow %s deployments (rollout status, the deployed-commit annotation)", v)
		}
		if ok, _ := validation.Covers(deployerRules(t, r.objects, nil), need); !ok {
			t.Errorf("deployerRules without prune does not ask for %s deployments", v)
		}
	}
}

// The deployer's Role covers everything a deploy of each overlay does, and
// grants nothing a deploy does not do.
func TestDeployerRoleCoversOverlays(t *testing.T) {
	role := deployerRole(t)
	_, env := deployWorkflow(t)
	pruned := strings.Fields(env["K8S_PRUNE_ALLOWLIST"])
	var all []rbacv1.PolicyRule
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			need := deployerRules(t, r.objects, pruned)
			all = append(all, need...)
			for _, m := range uncovered(role, need) {
				t.Errorf("the deployer Role does not allow %v", m)
			}
		})
	}
	if ok, extra := validation.Covers(all, role.Rules); !ok {
		t.Errorf("the deployer Role grants more than a deploy needs: %v", extra)
	}
}

// Negative case: an object the Role does not cover (a Secret, RBAC) fails
// the coverage check, and the Role can never read a credential, exec into
// a pod or grant itself more.
func TestDeployerRoleRefuses(t *testing.T) {
	role := deployerRole(t)
	r := build(t, "overlays/prod")
	for _, extra := range []object{
		{"v1", "Secret", "api-keys", namespace},
		{"rbac.authorization.k8s.io/v1", "RoleBinding", "more-rights", namespace},
	} {
		need := deployerRules(t, append(slices.Clone(r.objects), extra), nil)
		missing := uncovered(role, need)
		if !slices.ContainsFunc(missing, func(p rbacv1.PolicyRule) bool {
			return slices.Contains(p.Resources, resourceOf[extra.apiVersion+" "+extra.kind][1])
		}) {
			t.Errorf("an overlay with a %s passes the coverage check (uncovered: %v)", extra.kind, missing)
		}
	}
	forbidden := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"create"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles"}, Verbs: []string{"escalate"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles"}, Verbs: []string{"bind"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}},
	}
	for _, f := range forbidden {
		if ok, _ := validation.Covers(role.Rules, []rbacv1.PolicyRule{f}); ok {
			t.Errorf("the deployer Role allows %s %s", strings.Join(f.Verbs, ","), fmt.Sprint(f.Resources))
		}
	}
	for _, rule := range role.Rules {
		if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
			t.Errorf("the deployer Role has a wildcard: %+v", rule)
		}
	}
}

// The RoleBinding's group is the one infra/ci.yaml's access entry puts the
// deploy role in, and the entry carries no EKS access policy beside it.
func TestDeployerGroupMatchesAccessEntry(t *testing.T) {
	b := decode(kustomize(t, bootstrapDir))
	tmpl := cfn(t, "ci.yaml")
	// One access entry per environment's deploy role, each on its own
	// cluster, both in the same group.
	for _, id := range []string{"StagingAccessEntry", "ProductionAccessEntry"} {
		entry := at(tmpl, "Resources", id, "Properties")
		if entry == nil {
			t.Fatalf("infra/ci.yaml has no %s", id)
		}
		if at(entry, "AccessPolicies") != nil {
			t.Errorf("infra/ci.yaml's %s has access policies %v: the deployer Role is all it gets", id, at(entry, "AccessPolicies"))
		}
		group, _ := at(entry, "KubernetesGroups", 0).(string)
		group = strings.ReplaceAll(group, "${KubernetesNamespace}", at(tmpl, "Parameters", "KubernetesNamespace", "Default").(string))
		subjects := b.bindings[0].Subjects
		if len(subjects) != 1 || subjects[0].Kind != "Group" || subjects[0].Name != group {
			t.Errorf("the deployer RoleBinding binds %+v, want the group %q of infra/ci.yaml's %s", subjects, group, id)
		}
	}
}
