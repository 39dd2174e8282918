package freshstack

import (
	"strings"
	"testing"
)

// Run runs f to its end before it returns, and a panic in f reaches the
// caller with what f panicked with and where.
func TestRun(t *testing.T) {
	ran := false
	Run(func() { ran = true })
	if !ran {
		t.Fatal("Run returned before f ran")
	}
	defer func() {
		v, _ := recover().(string)
		if !strings.HasPrefix(v, "boom, at\n") || !strings.Contains(v, "freshstack_test.go") {
			t.Fatalf("the caller recovered %q", v)
		}
	}()
	Run(func() { panic("boom") })
	t.Fatal("a panic in f did not reach the caller")
}
