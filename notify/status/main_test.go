package status

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is two real clusters, c1 and c2; each test keeps its status in a
// namespace of its own.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 2, &env) }
