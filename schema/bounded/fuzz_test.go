package bounded

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// fuzzLimits are tight, so that a run stays short.
var fuzzLimits = Limits{Timeout: 5 * time.Second, Memory: 256 << 20, Output: 1 << 20}

// FuzzLoad feeds arbitrary bytes as intent files (split at NUL bytes, one
// file each) through Load under limits, then renders and encodes whatever
// loads for every cluster: nothing may panic, Load answers within its time
// limit with intents, schema.Errors or a limit, and never crashes. The seed
// corpus (testdata/fuzz/FuzzLoad) holds the examples, broken syntax, the
// bomb of issue 10, deep nesting, giant strings and a structural cycle.
//
// The child's coverage does not reach the fuzzing engine (it counts this
// process only), so mutations are guided by the parent's code alone.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		files := schema.Files{}
		for i, src := range bytes.Split(data, []byte{0}) {
			files[fmt.Sprintf("f%d.cue", i)] = src
		}
		start := time.Now()
		in, err := Load(t.Context(), files, fuzzLimits)
		if took := time.Since(start); took > fuzzLimits.Timeout+time.Second {
			t.Errorf("Load took %s, over its limit of %s", took, fuzzLimits.Timeout)
		}
		var errs schema.Errors
		var limit *LimitError
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				if e.Msg == "" {
					t.Errorf("an error without a message: %#v", e)
				}
			}
			return
		case errors.As(err, &limit):
			return
		case err != nil:
			t.Fatalf("Load: %v", err)
		}
		for _, cluster := range append([]string{""}, slices.Sorted(maps.Keys(in.Fleet.Clusters))...) {
			objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: "0123456"})
			if err != nil {
				continue // intents that render refuses, with a reason
			}
			if _, err := render.Encode(objs, "yaml"); err != nil {
				t.Errorf("cluster %q: encoding what rendered: %v", cluster, err)
			}
		}
	})
}
