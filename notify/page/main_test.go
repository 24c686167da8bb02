package page

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is one real cluster, the home cluster of the decision tests; the
// page's own tests need none.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }
