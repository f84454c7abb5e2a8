package tui

import (
	"strings"
	"testing"
	"time"

	"paysim/internal/syncbuf"
	"paysim/loadgen"
)

// TestSteps: each step gets its bar with its label and, once ended, its
// verdict; a step still running at Close (an interrupted search) is left
// where it stood and Close returns; ticks outside a step are ignored.
func TestSteps(t *testing.T) {
	tests := []struct {
		name     string
		steps    []string // labels; each but an unfinished last one ends
		finishes bool     // the last step ends before Close
		want     []string
	}{
		{"two steps ended", []string{"step 01-all-azs-200", "step 02-all-azs-300"}, true,
			[]string{"step 01-all-azs-200", "step 02-all-azs-300", "v step 01-all-azs-200", "v step 02-all-azs-300"}},
		{"interrupted in the second", []string{"step 01-all-azs-200", "step 02-all-azs-300"}, false,
			[]string{"v step 01-all-azs-200", "step 02-all-azs-300", "ok  150/s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out syncbuf.Buffer
			s := NewSteps(&out, false)
			s.Tick(loadgen.Tick{OK: 1}) // before any step: ignored
			for i, label := range tc.steps {
				s.Start(label, 5*time.Second)
				for sec := range 3 {
					s.Tick(loadgen.Tick{T: time.Duration(sec) * time.Second, OK: 150, P99: 12 * time.Millisecond})
				}
				if i < len(tc.steps)-1 || tc.finishes {
					s.End("v " + label)
				}
			}
			done := make(chan struct{})
			go func() { s.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
			got := out.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if !tc.finishes && strings.Contains(got, "v "+tc.steps[len(tc.steps)-1]) {
				t.Errorf("the unfinished step shows a verdict:\n%s", got)
			}
		})
	}
}
