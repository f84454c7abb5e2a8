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

// builtin returns a scenario of the built-in catalogue.
func builtin(t *testing.T, name string) Scenario {
	t.Helper()
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cat.Find(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestBuiltinCatalogue(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatalf("the embedded scenarios.yaml does not decode:\n%v", err)
	}
	if len(cat.Scenarios) < 30 {
		t.Fatalf("%d scenarios, want at least 30", len(cat.Scenarios))
	}
	if cat.Scenarios[0].Name != "baseline" {
		t.Fatal("baseline must be the default (first) scenario")
	}
	for _, s := range cat.Scenarios {
		if s.Load.Duration <= 0 || s.Load.pacer().Rate(0) <= 0 || s.Description == "" {
			t.Fatalf("%s: incomplete load or description: %+v", s.Name, s.Load)
		}
		ci, ok := cat.CI[s.Name]
		if !ok {
			t.Errorf("%s: no ci: form for .ci/run", s.Name)
			continue
		}
		d := s.Load.Duration
		if ci.Duration > 0 {
			d = ci.Duration
		}
		for _, e := range s.Faults {
			if e.At+e.For+5*time.Second > d {
				t.Errorf("%s: the %s fault ends at %v, too close to the CI run's end %v to measure recovery", s.Name, e.Fault.Name(), e.At+e.For, d)
			}
		}
	}
	if _, err := cat.Find("nope"); err == nil {
		t.Fatal("unknown scenario found")
	}
}
