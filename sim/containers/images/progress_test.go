package images

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"paysim/internal/syncbuf"
)

func TestBars(t *testing.T) {
	var buf syncbuf.Buffer
	b := NewBars(&buf)
	ok, bad := b.Step("base"), b.Step("node")
	ok.Status("debootstrap: Retrieving dpkg")
	ok.Done("paysim-base:abc built", nil)
	bad.Done("", errors.New("go build failed\nlong details"))
	b.Wait()
	out := buf.String()
	for _, want := range []string{"base", "paysim-base:abc built", "FAILED: go build failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("bars output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "long details") {
		t.Errorf("a failure's later lines reached the bar:\n%s", out)
	}
}

func TestLines(t *testing.T) {
	var buf bytes.Buffer
	l := &Lines{W: &buf, Every: time.Hour}
	s := l.Step("base")
	s.Status("first")
	s.Status("second, too soon") // within Every of the first
	s.Done("built", nil)
	l.Step("node").Done("", errors.New("boom"))
	got := buf.String()
	if !strings.Contains(got, "first") || strings.Contains(got, "too soon") || !strings.Contains(got, "built") || !strings.Contains(got, "FAILED: boom") {
		t.Fatalf("lines:\n%s", got)
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Fatalf("%d lines, want 3:\n%s", n, got)
	}
}
