package kube

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is one real cluster for the tests of what kube keeps in clusters;
// each test works in a namespace of its own.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }
