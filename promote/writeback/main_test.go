package writeback

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is two real clusters, c1 and c2 of the tests' fleet; c1 is also the home
// cluster that holds promotion state.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 2, &env) }
