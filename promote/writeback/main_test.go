package writeback

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is one real cluster, the home cluster that holds promotion state.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }
