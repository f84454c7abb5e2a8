package stack

import (
	"fmt"
	"strings"
	"testing"
)

func TestSetupProgressCountsOnOneTotal(t *testing.T) {
	var got []string
	stackStep, backend := setupProgress(func(step string, done, total int) {
		got = append(got, fmt.Sprintf("%d/%d %s", done, total, step))
	})
	backend("image node: go build", -1, -1) // a note before any step
	backend("mysql ready", 1, 3)
	backend("image node: up to date", -1, -1) // a note between steps keeps the counts
	backend("redis ready", 2, 3)
	backend("sentinel quorum", 3, 3)
	stackStep("infrastructure nodes")
	want := []string{
		"0/4 image node: go build",
		"1/7 mysql ready",
		"1/7 image node: up to date",
		"2/7 redis ready",
		"3/7 sentinel quorum",
		"4/7 infrastructure nodes",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
