package bounded

import (
	"os"
	"testing"
)

// The tests' children are this test binary started again.
func TestMain(m *testing.M) {
	RunIfChild()
	os.Exit(m.Run())
}
