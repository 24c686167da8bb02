package testenv

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamespaceName(t *testing.T) {
	for _, test := range []string{
		"TestFoo",
		"TestFoo/sub_test#01",
		"---",
		"Test" + strings.Repeat("X", 100),
		"TestA/" + strings.Repeat("b", 55) + "-c",
	} {
		ns := namespaceName(test)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			t.Errorf("namespaceName(%q) = %q: %v", test, ns, errs)
		}
	}
	if got := namespaceName("TestFoo/sub_test#01"); !strings.HasPrefix(got, "testfoo-sub-test-01-") {
		t.Errorf("namespaceName keeps too little of the test name: %q", got)
	}
	if a, b := namespaceName("TestFoo"), namespaceName("TestFoo"); a == b {
		t.Errorf("namespaceName repeats %q", a)
	}
}

func TestModuleVersion(t *testing.T) {
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []binary{apiserverBinary, etcdBinary, kubectlBinary} {
		v, err := moduleVersion(src+"/bins/"+b.module+"/go.mod", b.dep)
		if err != nil || !strings.HasPrefix(v, "v") {
			t.Errorf("%s: version %q, %v", b.name, v, err)
		}
	}
	if got := apiserverBinary.ldflags("v1.36.3"); !strings.Contains(got, "k8s.io/component-base/version.gitMinor=36") {
		t.Errorf("ldflags %q", got)
	}
}
