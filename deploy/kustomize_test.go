package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sailplan/sailplan/testenv"
)

// The manifests are rendered and applied by a real kubectl (built by
// testenv from kube-apiserver's release, with the kustomize it bundles),
// not by the kustomize library: what an operator runs, flags and all,
// is what is tested, and kubectl's own client-side checks come with it.

// overlays are every overlay an install may use, with the replicas each
// must run. A new overlay fails TestOverlays until it is listed here.
var overlays = map[string]int32{"single": 1, "ha": 2}

// namespace is where sailplan runs, in every overlay.
const namespace = "sailplan-system"

// kubectl runs testenv's kubectl as the admin of the test cluster.
func kubectl(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, err := testenv.Kubectl(t.Context(), nil)
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// render is `kubectl kustomize dir`.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	out, stderr, err := kubectl(t, nil, "kustomize", dir)
	if err != nil || stderr != "" {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr)
	}
	return []byte(out)
}

// decode splits a stream of YAML documents into objects.
func decode(t *testing.T, what string, b []byte) []unstructured.Unstructured {
	t.Helper()
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("%s: %v", what, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// typed finds the one object of kind and name in objs, as a T.
func typed[T any](t *testing.T, objs []unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			v := new(T)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return v
		}
	}
	t.Fatalf("no %s %s in the rendered manifests", kind, name)
	return nil
}

// restrictedNamespace makes sure sailplan's namespace exists and enforces
// the restricted Pod Security Standard, whatever the manifests say: the
// dry runs below prove the pods pass it, and the refusals that it holds.
func restrictedNamespace(t *testing.T) {
	t.Helper()
	ns := []byte(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/warn-version: latest
`, namespace))
	if _, stderr, err := kubectl(t, ns, "apply", "--server-side", "--field-manager=deploy-test", "-f", "-"); err != nil {
		t.Fatalf("namespace %s: %v\n%s", namespace, err, stderr)
	}
}

// dryRun applies objs with a server-side dry run, as the admin would
// apply them for real, and returns kubectl's output.
func dryRun(t *testing.T, manifests []byte) (stdout, stderr string, err error) {
	t.Helper()
	return kubectl(t, manifests, "apply", "--server-side", "--dry-run=server", "--field-manager=sailplan-install", "-f", "-")
}

// podOf is the Pod the Deployment's ReplicaSet would create: Pod
// Security admission enforces on Pods only (for a Deployment it only
// warns), so the pod template is what must be admitted.
func podOf(t *testing.T, d *appsv1.Deployment) *corev1.Pod {
	t.Helper()
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-dry-run", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
}

func podYAML(t *testing.T, p *corev1.Pod) []byte {
	t.Helper()
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOverlays renders every overlay with `kubectl kustomize` and applies
// the result with a server-side dry run to a real apiserver whose
// namespace enforces the restricted Pod Security Standard: the
// Deployment draws no warning, and its pod is admitted. The rendered
// objects are what an install needs, and agree with each other (probes
// and ports, the flags the daemon knows).
func TestOverlays(t *testing.T) {
	env.Need(t)
	dirs, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.Base(filepath.Dir(d)))
	}
	var listed []string
	for name := range overlays {
		listed = append(listed, name)
	}
	slices.Sort(names)
	slices.Sort(listed)
	if diff := cmp.Diff(listed, names); diff != "" {
		t.Fatalf("overlays in deploy/overlays (-listed in the test +found): every overlay must be listed with its replicas\n%s", diff)
	}
	restrictedNamespace(t)
	for name, replicas := range overlays {
		t.Run(name, func(t *testing.T) { checkInstall(t, filepath.Join("overlays", name), replicas) })
	}
}

// TestDocsOverlay: the overlay docs/operations.md shows an operator, on
// top of ha with their image and flags, renders and is admitted too.
func TestDocsOverlay(t *testing.T) {
	env.Need(t)
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	const mark = "# my-sailplan/kustomization.yaml\n"
	_, example, ok := strings.Cut(string(doc), mark)
	example, _, fenced := strings.Cut(example, "```")
	if !ok || !fenced {
		t.Fatalf("docs/operations.md has no fenced example that starts %q", mark)
	}
	// Laid out as the example says: the overlay beside a checkout.
	dir := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(dir, "sailplan")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "my-sailplan"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "my-sailplan", "kustomization.yaml"), []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	restrictedNamespace(t)
	d := checkInstall(t, filepath.Join(dir, "my-sailplan"), overlays["ha"])
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example.com/sailplan:v1.2.3" {
		t.Errorf("the docs' overlay runs image %q, want the one it sets", got)
	}
}

// checkInstall renders dir, checks what it holds, and applies it with a
// server-side dry run; it returns the Deployment.
func checkInstall(t *testing.T, dir string, replicas int32) *appsv1.Deployment {
	t.Helper()
	manifests := render(t, dir)
	objs := decode(t, dir, manifests)

	var got []string
	for _, u := range objs {
		got = append(got, u.GetKind()+" "+strings.TrimPrefix(u.GetNamespace()+"/", "/")+u.GetName())
	}
	slices.Sort(got)
	want := []string{
		"ClusterRole sailplan",
		"ClusterRoleBinding sailplan",
		"Deployment sailplan-system/sailplan",
		"Namespace sailplan-system",
		"NetworkPolicy sailplan-system/sailplan",
		"PodDisruptionBudget sailplan-system/sailplan",
		"Role sailplan-system/sailplan",
		"Role sailplan-system/sailplan-approver",
		"Role sailplan-system/sailplan-viewer",
		"RoleBinding sailplan-system/sailplan",
		"Service sailplan-system/sailplan",
		"ServiceAccount sailplan-system/sailplan",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kubectl kustomize %s (-want +got):\n%s", dir, diff)
	}

	ns := typed[corev1.Namespace](t, objs, "Namespace", namespace)
	if l := ns.Labels["pod-security.kubernetes.io/enforce"]; l != "restricted" {
		t.Errorf("Namespace %s: pod-security.kubernetes.io/enforce=%q, want restricted", namespace, l)
	}
	d := typed[appsv1.Deployment](t, objs, "Deployment", "sailplan")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("%s: Deployment replicas %v, want %d", dir, d.Spec.Replicas, replicas)
	}
	checkPodSpec(t, dir, &d.Spec.Template.Spec)
	checkFlags(t, dir, d.Spec.Template.Spec.Containers[0].Args)
	checkService(t, dir, objs, d)
	pdb := typed[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "sailplan")
	if diff := cmp.Diff(d.Spec.Selector, pdb.Spec.Selector); diff != "" {
		t.Errorf("%s: the PodDisruptionBudget selects other pods than the Deployment's (-deployment +pdb):\n%s", dir, diff)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("%s: PodDisruptionBudget maxUnavailable %v, want 1: a drain takes one replica at a time", dir, pdb.Spec.MaxUnavailable)
	}
	if replicas > 1 {
		checkSpread(t, dir, d)
	}

	// The whole install, as `kubectl apply --server-side -k` would send
	// it: admitted, without a Pod Security warning.
	stdout, stderr, err := dryRun(t, manifests)
	if err != nil || stderr != "" {
		t.Errorf("kubectl apply --server-side --dry-run=server (kubectl kustomize %s): %v\n%s%s", dir, err, stdout, stderr)
	}
	// And the pod the Deployment makes.
	if stdout, stderr, err := dryRun(t, podYAML(t, podOf(t, d))); err != nil || stderr != "" {
		t.Errorf("the pod of %s, in a namespace that enforces restricted: %v\n%s%s", dir, err, stdout, stderr)
	}
	return d
}

// TestRestrictedRefused: the namespace the dry runs go to does refuse a
// pod that breaks the restricted standard, each control on its own, so
// that TestOverlays' admissions mean something.
func TestRestrictedRefused(t *testing.T) {
	env.Need(t)
	restrictedNamespace(t)
	d := typed[appsv1.Deployment](t, decode(t, "overlays/single", render(t, "overlays/single")), "Deployment", "sailplan")
	const prefix = `Error from server (Forbidden): pods "sailplan-dry-run" is forbidden: violates PodSecurity "restricted:latest": `
	for _, c := range []struct {
		name   string
		breaks func(*corev1.PodSpec)
		want   string
	}{{
		"privilege escalation",
		func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil },
		`allowPrivilegeEscalation != false (container "sailplan" must set securityContext.allowPrivilegeEscalation=false)`,
	}, {
		"capabilities",
		func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil },
		`unrestricted capabilities (container "sailplan" must set securityContext.capabilities.drop=["ALL"])`,
	}, {
		"root",
		func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil },
		`runAsNonRoot != true (pod or container "sailplan" must set securityContext.runAsNonRoot=true)`,
	}, {
		"seccomp",
		func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil },
		`seccompProfile (pod or container "sailplan" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
	}} {
		t.Run(c.name, func(t *testing.T) {
			p := podOf(t, d)
			c.breaks(&p.Spec)
			_, stderr, err := dryRun(t, podYAML(t, p))
			if err == nil {
				t.Fatalf("a pod without %s was admitted to %s", c.name, namespace)
			}
			if diff := cmp.Diff(prefix+c.want+"\n", stderr); diff != "" {
				t.Errorf("kubectl apply (-want +got):\n%s", diff)
			}
		})
	}

	// The restricted standard does not cover a writable root filesystem:
	// checkPodSpec holds that one.
	p := podOf(t, d)
	p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil
	if _, stderr, err := dryRun(t, podYAML(t, p)); err != nil {
		t.Errorf("a pod with a writable root filesystem: %v\n%s\nwant admitted: the restricted standard does not cover it", err, stderr)
	}
}

// checkPodSpec holds what the restricted standard asks, and what sailplan
// asks beyond it: a read-only root filesystem, probes on the probes port.
func checkPodSpec(t *testing.T, what string, s *corev1.PodSpec) {
	t.Helper()
	psc := s.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and seccompProfile RuntimeDefault", what, psc)
	}
	if len(s.Containers) != 1 || len(s.InitContainers) != 0 {
		t.Fatalf("%s: %d containers and %d init containers, want the one container sailplan", what, len(s.Containers), len(s.InitContainers))
	}
	c := s.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: container securityContext %+v: want allowPrivilegeEscalation false, readOnlyRootFilesystem, capabilities drop [ALL] and none added", what, sc)
	}

	// The probes on the port --probe-listen serves, the others on --listen.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	want := map[string]int32{"http": listenPort(t, what, c.Args, "--listen"), "probes": listenPort(t, what, c.Args, "--probe-listen")}
	if diff := cmp.Diff(want, ports); diff != "" {
		t.Errorf("%s: container ports (-from the flags +declared):\n%s", what, diff)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/livez"}} {
		var got corev1.HTTPGetAction
		if p.probe != nil && p.probe.HTTPGet != nil {
			got = *p.probe.HTTPGet
		}
		if diff := cmp.Diff(corev1.HTTPGetAction{Path: p.path, Port: intstr.FromString("probes")}, got); diff != "" {
			t.Errorf("%s: %s probe (-want +got):\n%s", what, p.name, diff)
		}
	}
}

// listenPort is the port of the daemon's flag (--flag=:PORT) in args.
func listenPort(t *testing.T, what string, args []string, flag string) int32 {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			var port int32
			if _, err := fmt.Sscanf(v, ":%d", &port); err != nil {
				t.Fatalf("%s: %s: want %s=:PORT", what, a, flag)
			}
			return port
		}
	}
	t.Fatalf("%s: the container's args have no %s=:PORT", what, flag)
	return 0
}

// checkService: the Service and the NetworkPolicy let in the http port
// only; the probes stay within the pod's node.
func checkService(t *testing.T, what string, objs []unstructured.Unstructured, d *appsv1.Deployment) {
	t.Helper()
	svc := typed[corev1.Service](t, objs, "Service", "sailplan")
	if diff := cmp.Diff(d.Spec.Selector.MatchLabels, svc.Spec.Selector); diff != "" {
		t.Errorf("%s: the Service selects other pods than the Deployment's (-deployment +service):\n%s", what, diff)
	}
	var targets []string
	for _, p := range svc.Spec.Ports {
		targets = append(targets, p.TargetPort.String())
	}
	if diff := cmp.Diff([]string{"http"}, targets); diff != "" {
		t.Errorf("%s: Service target ports (-want +got):\n%s", what, diff)
	}
	np := typed[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy", "sailplan")
	if diff := cmp.Diff(d.Spec.Selector.MatchLabels, np.Spec.PodSelector.MatchLabels); diff != "" {
		t.Errorf("%s: the NetworkPolicy selects other pods than the Deployment's (-deployment +policy):\n%s", what, diff)
	}
	var ingress []string
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			ingress = append(ingress, p.Port.String())
		}
	}
	if diff := cmp.Diff([]string{"http"}, ingress); diff != "" {
		t.Errorf("%s: NetworkPolicy ingress ports (-want +got):\n%s", what, diff)
	}
}

// checkSpread: with several replicas, a rollout keeps them all (one more
// starts first), and the scheduler prefers them on different nodes.
func checkSpread(t *testing.T, what string, d *appsv1.Deployment) {
	t.Helper()
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("%s: rolling update %+v: want maxUnavailable 0, so that a standby is always there", what, ru)
	}
	a := d.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("%s: affinity %+v: want one preferred pod anti-affinity", what, a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != "kubernetes.io/hostname" || term.LabelSelector == nil || !cmp.Equal(term.LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("%s: pod anti-affinity %+v: want the Deployment's pods apart by kubernetes.io/hostname", what, term)
	}
}

// checkFlags: every flag the Deployment gives is one `sailplan run`
// knows, parsed by the binary the image holds.
func checkFlags(t *testing.T, what string, args []string) {
	t.Helper()
	bin, _ := sailplanBinary(t)
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("%s: args %q, want `run` and its flags", what, args)
	}
	// --help after the flags: cobra parses them all first, and fails on
	// one it does not know; it runs nothing.
	if out, err := exec.Command(bin, append(slices.Clone(args), "--help")...).CombinedOutput(); err != nil {
		t.Errorf("%s: sailplan %s --help: %v\n%s", what, strings.Join(args, " "), err, out)
	}
}
