package render

import (
	"os"
	"testing"

	"github.com/sailplan/sailplan/schema/bounded"
)

// BenchmarkBoundedLoadRender1000 evaluates in a child: this test binary.
func TestMain(m *testing.M) {
	bounded.RunIfChild()
	os.Exit(m.Run())
}
