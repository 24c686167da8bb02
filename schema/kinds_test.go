package schema

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func kindFields() []string {
	var out []string
	for _, k := range Kinds {
		out = append(out, k.Field)
	}
	return out
}

// TestKindsCoverCUE: every top-level field of #Intents but the fleet is a
// kind, with intents by name exactly where the schema maps names to them.
func TestKindsCoverCUE(t *testing.T) {
	intents, err := (&builder{ctx: cuecontext.New()}).schema()
	if err != nil {
		t.Fatal(err)
	}
	fields, err := intents.Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	var cueFields []string
	for fields.Next() {
		field := fields.Selector().Unquoted()
		if field == "fleet" {
			continue
		}
		cueFields = append(cueFields, field)
		named := fields.Value().IncompleteKind() == cue.StructKind
		if i := slices.Index(kindFields(), field); i >= 0 && Kinds[i].Named != named {
			t.Errorf("kind %s: Named is %v, but #Intents.%s is a %v", field, Kinds[i].Named, field, fields.Value().IncompleteKind())
		}
	}
	if diff := cmp.Diff(cueFields, kindFields()); diff != "" {
		t.Errorf("the fields of #Intents (schema/intents.cue) and Kinds (schema/kinds.go) differ: every kind needs an entry in both, in the same order (-#Intents +Kinds):\n%s", diff)
	}
}

// TestKindsCoverGo: every field of Intents but the fleet is a kind, and
// each kind reads and merges its own field, no other.
func TestKindsCoverGo(t *testing.T) {
	typ := reflect.TypeFor[Intents]()
	var goFields []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		field := jsonName(f)
		if !f.IsExported() || field == "-" || field == "fleet" {
			continue
		}
		goFields = append(goFields, field)

		// One intent (or raw object) of this field, zero-valued.
		one := &Intents{}
		v := reflect.ValueOf(one).Elem().Field(i)
		switch v.Kind() {
		case reflect.Map:
			v.Set(reflect.MakeMap(f.Type))
			v.SetMapIndex(reflect.ValueOf("x"), reflect.New(f.Type.Elem().Elem()))
		case reflect.Slice:
			v.Set(reflect.MakeSlice(f.Type, 1, 1))
		default:
			t.Fatalf("Intents.%s is a %s; a kind's field is a map of intents by name or a list", f.Name, v.Kind())
		}
		for _, k := range Kinds {
			own := k.Field == field
			if got := len(k.objects(one)) > 0; got != own {
				t.Errorf("kind %s sees the intents of Intents.%s: %v, want %v", k.Field, f.Name, got, own)
			}
			merged := &Intents{}
			k.merge(merged, one)
			if got := !reflect.ValueOf(merged).Elem().Field(i).IsZero(); got != own {
				t.Errorf("kind %s merges the intents of Intents.%s: %v, want %v", k.Field, f.Name, got, own)
			}
		}
	}
	if diff := cmp.Diff(goFields, kindFields()); diff != "" {
		t.Errorf("the fields of Intents (schema/types.go) and Kinds (schema/kinds.go) differ (-Intents +Kinds):\n%s", diff)
	}
}

// kindSamples is a valid intent of every kind, as a file of its own.
var kindSamples = map[string]string{
	"services":      `services: reviews: {versions: v1: labels: version: "v1", routes: [{to: v1: 100}], timeout: "5s"}`,
	"gateways":      `gateways: edge: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["x.example.com"], credentialName: "x"}}`,
	"mtls":          `mtls: default: {namespace: "istio-system", mode: "STRICT"}`,
	"authorization": `authorization: reviews: {namespace: "default", selector: app: "reviews", rules: [{from: [{namespaces: ["shop"]}], to: [{methods: ["GET"]}]}]}`,
	"jwt":           `jwt: edge: {namespace: "istio-system", issuers: [{issuer: "https://auth.example.com"}], require: {paths: ["/api/*"], ports: [8443]}}`,
	"external":      `external: api: {namespace: "istio-system", hosts: ["api.example.com"], ports: [{number: 443, protocol: "HTTPS"}]}`,
	"raw":           `raw: [{apiVersion: "networking.istio.io/v1", kind: "Sidecar", metadata: name: "default", spec: {}}]`,
}

// TestSplitKeepsEveryKind: loading file by file keeps the intents of
// every kind, with their sources, as loading one package does.
func TestSplitKeepsEveryKind(t *testing.T) {
	files := Files{}
	for _, k := range Kinds {
		sample, ok := kindSamples[k.Field]
		if !ok {
			t.Fatalf("kind %s has no sample: add a valid intent of it to kindSamples", k.Field)
		}
		files[k.Field+".cue"] = []byte(fmt.Sprintf("package intents\n%s\n", sample))
	}
	want := onePackage(t, files)
	got, ok := loadSplit(files)
	if !ok {
		t.Fatal("loading file by file declined")
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Intents{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("file by file differs from one package (-want +got):\n%s", diff)
	}
	for _, k := range Kinds {
		objs := k.objects(got)
		if len(objs) == 0 {
			t.Errorf("kind %s: its intent is gone", k.Field)
			continue
		}
		if name, _ := objs[0].path[1].(string); k.Named && got.Sources[k.Intent(name)] != k.Field+".cue" {
			t.Errorf("kind %s: source of %s is %q, want %s.cue", k.Field, k.Intent(name), got.Sources[k.Intent(name)], k.Field)
		}
	}
}
