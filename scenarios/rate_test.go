package scenarios

import (
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    vegeta.Rate
		wantErr bool
	}{
		{in: "300", want: vegeta.Rate{Freq: 300, Per: time.Second}},
		{in: "200/s", want: vegeta.Rate{Freq: 200, Per: time.Second}},
		{in: "12000/m", want: vegeta.Rate{Freq: 12000, Per: time.Minute}},
		{in: " 5/h ", want: vegeta.Rate{Freq: 5, Per: time.Hour}},
		{in: "-5", wantErr: true},
		{in: "0", wantErr: true},
		{in: "fast", wantErr: true},
		{in: "10/d", wantErr: true},
		{in: "1.5/s", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %q as %v", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestBuiltinScenariosAreRunnable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Builtin() {
		if seen[s.Name] {
			t.Fatalf("duplicate scenario %q", s.Name)
		}
		seen[s.Name] = true
		if err := s.Topology.Validate(); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if s.Load.Duration <= 0 || s.Load.pacer().Rate(0) <= 0 || s.Description == "" {
			t.Fatalf("%s: incomplete load or description: %+v", s.Name, s.Load)
		}
	}
	if Builtin()[0].Name != "baseline" {
		t.Fatal("baseline must be the default (first) scenario")
	}
	if _, err := Find(Builtin(), "nope"); err == nil {
		t.Fatal("unknown scenario found")
	}
}
