package moekit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The example builds and runs (so it never rots).
func TestExampleRuns(t *testing.T) {
	out, err := exec.Command("go", "run", "./examples/moe_layer").CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"kernel", "expected failure: status \"invalid argument\", message \"logits:"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("example output lacks %q:\n%s", want, out)
		}
	}
}
