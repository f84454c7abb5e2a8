package appnode

import "testing"

// SetFailpoints replaces the whole set: what is left out goes off, a term
// set again keeps its counters (a chaos change elsewhere must not re-arm a
// 1*return), and a set with a bad term changes nothing.
func TestSetFailpointsReplacesTheSet(t *testing.T) {
	n := NewNode("127.0.0.1:0", nil)
	if err := n.SetFailpoints(map[string]string{"a": "1*return(true)", "b": "return(1)"}); err != nil {
		t.Fatal(err)
	}
	eval := func(name string) any {
		v, err := n.fps.Eval(name)
		if err != nil {
			return nil
		}
		return v
	}
	if v := eval("a"); v != true {
		t.Fatalf("a's first evaluation: %v, want true", v)
	}
	if err := n.SetFailpoints(map[string]string{"a": "1*return(true)"}); err != nil {
		t.Fatal(err)
	}
	if v := eval("a"); v != nil {
		t.Errorf("a after the set was sent again: %v, want its one shot spent", v)
	}
	if _, err := n.fps.Status("b"); err == nil {
		t.Error("b is still on after a set without it")
	}
	if err := n.SetFailpoints(map[string]string{"a": "return(true)", "c": "nonsense(("}); err == nil {
		t.Fatal("a set with a bad term was accepted")
	}
	if term, err := n.fps.Status("a"); err != nil || term != "1*return(true)" {
		t.Errorf("a after a rejected set: %q (%v), want it unchanged", term, err)
	}
	if got := n.Failpoints(); len(got) != 1 || got["a"] != "1*return(true)" {
		t.Errorf("failpoints after a rejected set: %v, want only a", got)
	}
}
