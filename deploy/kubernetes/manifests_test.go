package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization the base uses;
// decoded strictly too, so a field this test does not know fails.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// newObject returns the API type for a manifest's apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: add its type to newObject", apiVersion, kind)
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits a YAML stream and decodes each document strictly into
// its API type.
func decode(data []byte) ([]any, error) {
	var out []any
	for i, doc := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, tm.Kind, err)
		}
		out = append(out, obj)
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestStrictDecodingCatchesTypos: the decoding this test relies on refuses
// a misspelt field, a field at the wrong level and a duplicate.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt":  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n",
		"misplaced": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  selector:\n    a: b\n",
		"duplicate": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n",
		"bad value": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n",
		"kind":      "apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: x\n",
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 2\n")); err != nil {
		t.Errorf("a correct manifest: %v", err)
	}
}

// workload is what the checks need of a Deployment, DaemonSet or
// StatefulSet.
type workload struct {
	name     string
	selector *metav1.LabelSelector
	pod      corev1.PodTemplateSpec
}

func TestManifests(t *testing.T) {
	dir := "base"
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace == "" {
		t.Fatalf("kustomization.yaml: apiVersion %q kind %q namespace %q", k.APIVersion, k.Kind, k.Namespace)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	listed := map[string]bool{"kustomization.yaml": true}
	for _, r := range k.Resources {
		listed[r] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	images := map[string]bool{}
	for _, im := range k.Images {
		if im.NewTag == "" || im.NewTag == "latest" {
			t.Errorf("image %s: pin a tag", im.Name)
		}
		images[im.Name] = true
	}

	var (
		objs      []any
		workloads []workload
	)
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatalf("resource %s: %v", r, err)
		}
		o, err := decode(data)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		objs = append(objs, o...)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			workloads = append(workloads, workload{o.Name, o.Spec.Selector, o.Spec.Template})
		case *appsv1.DaemonSet:
			workloads = append(workloads, workload{o.Name, o.Spec.Selector, o.Spec.Template})
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{o.Name, o.Spec.Selector, o.Spec.Template})
		}
	}
	if len(workloads) == 0 {
		t.Fatal("no workloads")
	}
	// selects reports whether sel picks some workload's pods.
	selects := func(sel labels.Selector) bool {
		for _, w := range workloads {
			if sel.Matches(labels.Set(w.pod.Labels)) {
				return true
			}
		}
		return false
	}
	for _, w := range workloads {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%s: selector %v does not select its own pods (%v)", w.name, w.selector, err)
		}
		for _, c := range append(append([]corev1.Container{}, w.pod.Spec.InitContainers...), w.pod.Spec.Containers...) {
			checkContainer(t, w.name, c, images, contains(w.pod.Spec.InitContainers, c.Name))
		}
	}
	kinds := map[string]int{}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			kinds["Service"]++
			if !selects(labels.SelectorFromSet(o.Spec.Selector)) {
				t.Errorf("Service %s selects no workload's pods", o.Name)
			}
		case *policyv1.PodDisruptionBudget:
			kinds["PodDisruptionBudget"]++
			sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
			if err != nil || !selects(sel) {
				t.Errorf("PodDisruptionBudget %s selects no workload's pods (%v)", o.Name, err)
			}
		case *networkingv1.NetworkPolicy:
			kinds["NetworkPolicy"]++
			sel, err := metav1.LabelSelectorAsSelector(&o.Spec.PodSelector)
			if err != nil || (!sel.Empty() && !selects(sel)) {
				t.Errorf("NetworkPolicy %s selects no workload's pods (%v)", o.Name, err)
			}
		case *appsv1.DaemonSet:
			kinds["DaemonSet"]++
			checkHost(t, o)
		case *appsv1.Deployment:
			kinds["Deployment"]++
		}
	}
	for _, want := range []string{"Service", "PodDisruptionBudget", "NetworkPolicy", "DaemonSet", "Deployment"} {
		if kinds[want] == 0 {
			t.Errorf("no %s in the base", want)
		}
	}
}

func contains(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// checkContainer: a pinned image, a memory limit, and (but for init
// containers) probes on ports the container declares.
func checkContainer(t *testing.T, w string, c corev1.Container, images map[string]bool, init bool) {
	t.Helper()
	where := w + "/" + c.Name
	if !images[c.Image] && (!strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest")) {
		t.Errorf("%s: image %q is not pinned", where, c.Image)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: no memory limit", where)
	}
	if init {
		return
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil {
			t.Errorf("%s: no %s probe", where, kind)
			continue
		}
		var port string
		switch {
		case p.HTTPGet != nil:
			port = p.HTTPGet.Port.String()
		case p.TCPSocket != nil:
			port = p.TCPSocket.Port.String()
		}
		if port != "" && !ports[port] {
			t.Errorf("%s: %s probe on port %q, which the container does not name", where, kind, port)
		}
	}
}

// checkHost: a host DaemonSet runs only on enclave-capable nodes of its
// platform, and a Nitro host asks for the device plugin's resource.
func checkHost(t *testing.T, d *appsv1.DaemonSet) {
	t.Helper()
	ns := d.Spec.Template.Spec.NodeSelector
	var args []string
	for _, c := range d.Spec.Template.Spec.Containers {
		args = append(args, c.Args...)
	}
	platform := ""
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "--platform="); ok {
			platform = p
		}
	}
	switch platform {
	case "nitro":
		if ns["aws-nitro-enclaves-k8s-dp"] != "enabled" {
			t.Errorf("%s: not restricted to nodes with the Nitro Enclaves device plugin", d.Name)
		}
		res := d.Spec.Template.Spec.Containers[0].Resources
		if q, ok := res.Limits["aws.ec2.nitro/nitro_enclaves"]; !ok || q.Value() < 1 {
			t.Errorf("%s: does not ask for aws.ec2.nitro/nitro_enclaves", d.Name)
		}
	case "snp", "tdx":
		if ns["truce-project.github.io/platform"] != platform {
			t.Errorf("%s: not restricted to %s nodes", d.Name, platform)
		}
	default:
		t.Errorf("%s: platform %q is not an enclave platform", d.Name, platform)
	}
	if !strings.Contains(strings.Join(args, " "), "--policy-dir=") {
		t.Errorf("%s: serves no policy directory", d.Name)
	}
	if ns["truce-project.github.io/host"] != "true" {
		t.Errorf("%s: runs on nodes not chosen as Truce hosts (node selector %v)", d.Name, ns)
	}
}
