package scenarios

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("../scenarios.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(raw))
	f.Add("version: 1\nscenarios:\n  - name: a\n    description: b\n    load: {rate: 1/s, duration: 1s}\n")
	f.Add("version: 1\nscenarios: [{name: x, faults: [{kind: partition, target: 'a|b'}]}]\n")
	f.Add("version: 1\nscenarios:\n  - nemesis: {kinds: [node-kill], every: 1s-2s}\n    load: {profile: {kind: spike, from: 1/s, to: 2/s}}\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, body string) {
		type result struct {
			cat *Catalogue
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, e := Decode("fuzz.yaml", []byte(body))
			done <- result{c, e}
		}()
		var cat *Catalogue
		var err error
		select {
		case r := <-done:
			cat, err = r.cat, r.err
		case <-time.After(5 * time.Second):
			t.Fatalf("Decode took over 5s on %q", body)
		}
		if err == nil && (cat == nil || len(cat.Scenarios) == 0) {
			t.Fatal("no error and no scenarios")
		}
		var fe FileErrors
		if err != nil && (!errors.As(err, &fe) || len(fe) == 0) {
			t.Fatalf("error %v is not a FileErrors", err)
		}
		for _, e := range fe {
			if e.Line < 1 || e.Col < 1 || !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
				t.Fatalf("error without a position: %v", e)
			}
		}
	})
}

// TestFiveAZRegionLosesItsFifthAZ runs a file with five AZs in us-east-1
// and an outage of the fifth: nothing is wired to three Tokyo AZs.
func TestFiveAZRegionLosesItsFifthAZ(t *testing.T) {
	const body = `version: 1
defaults:
  topology:
    region: us-east-1
    azs: [us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f]
    mysql: {failover_after: 2s}
  accounts: {users: 200, merchants: 20, initial_balance: 50000}
scenarios:
  - name: fifth-az-down
    description: the fifth AZ of a five-AZ region loses power
    load: {rate: 100/s, duration: 15s}
    faults:
      - {kind: az-outage, target: us-east-1f, variant: power, at: 4s, for: 6s}
    slos: {availability: 95%, rto: 5s}
`
	cat, err := Decode("five.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	sc := cat.Scenarios[0]
	if got := len(sc.Topology.AZs); got != 5 || sc.Topology.Region != "us-east-1" {
		t.Fatalf("topology %v in %s", sc.Topology.AZs, sc.Topology.Region)
	}
	var seen []string
	rep, err := Run(context.Background(), sc, Options{Out: t.TempDir(), DrainBound: 10 * time.Second, OnLive: func(l Live) {
		for _, n := range l.Nodes() {
			if n.AZ == "us-east-1f" {
				seen = append(seen, n.ID)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 4 { // kafka, mysql, es, app at least
		t.Fatalf("nodes in the fifth AZ: %v", seen)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].Target != "us-east-1f" || rep.Faults[0].StartS == 0 || rep.Faults[0].EndS == 0 {
		t.Fatalf("faults %+v", rep.Faults)
	}
	if rep.Verdict != report.VerdictPass && !rep.HostSaturatedOnly() {
		t.Fatalf("verdict %s: %q\n%+v %+v", rep.Verdict, rep.Reasons, rep.Invariants, rep.SLOs)
	}
}

// TestCanRunIn: a mode runs a scenario only if it has every ability the
// scenario's faults, failpoints and nemesis need.
func TestCanRunIn(t *testing.T) {
	cat, err := LoadFile("../scenarios.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scenario, mode string
		want           string // substring of the error; "" for none
	}{
		{"baseline", "containers", ""},
		{"db-writer-kill", "containers", ""},
		{"db-switchover", "containers", ""},
		{"db-writer-pause", "containers", ""},
		{"redis-primary-kill", "containers", ""},
		{"app-crash", "containers", ""},
		{"commit-fails", "containers", ""},
		{"partition-minority", "containers", ""},
		{"az-isolation", "containers", ""},
		{"cross-az-packet-loss", "containers", ""},
		{"db-replica-lag", "containers", ""},
		{"db-slow-queries", "containers", ""},
		{"slow-dependency", "containers", ""},
		{"region-loss", "containers", "needs the stack: region-loss"},
		{"db-replica-behind", "containers", ""},
		{"db-replica-behind", "embedded", "needs mysql nodes: lag"},
		{"nemesis", "containers", ""},
		{"nemesis", "embedded", ""},
		{"partition-minority", "embedded", ""},
		{"baseline", "kubernetes", `mode "kubernetes"`},
	}
	for _, tc := range tests {
		t.Run(tc.scenario+"/"+tc.mode, func(t *testing.T) {
			sc, err := cat.Find(tc.scenario)
			if err != nil {
				t.Fatal(err)
			}
			err = sc.CanRunIn(tc.mode)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CanRunIn(%s) = %v, want nil", tc.mode, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CanRunIn(%s) = %v, want an error with %q", tc.mode, err, tc.want)
			}
		})
	}
}

// TestDecodeImages: defaults.images reaches every scenario of the file.
func TestDecodeImages(t *testing.T) {
	body := "version: 1\ndefaults:\n  images: {mysql: mariadb:10.11, redis: registry.example/redis:7.0}\nscenarios:\n" +
		"  - {name: a, description: b, load: {rate: 1/s, duration: 1s}}\n  - {name: c, description: d, load: {rate: 1/s, duration: 1s}}\n"
	cat, err := Decode("images.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range cat.Scenarios {
		if sc.Images[sim.ServiceMySQL] != "mariadb:10.11" || sc.Images[sim.ServiceRedis] != "registry.example/redis:7.0" || len(sc.Images) != 2 {
			t.Errorf("%s: images %v", sc.Name, sc.Images)
		}
	}
}

// TestArrivals: a load's arrivals are even unless the file asks for poisson,
// and then the load generator gets a seeded Poisson pacer at the same rate.
func TestArrivals(t *testing.T) {
	tests := []struct {
		name     string
		arrivals string
		poisson  bool
	}{
		{"default", "", false},
		{"even", "arrivals: even, ", false},
		{"poisson", "arrivals: poisson, ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "version: 1\nscenarios:\n  - name: a\n    description: b\n    load: {" + tt.arrivals + "rate: 50/s, duration: 1s}\n"
			cat, err := Decode("arrivals.yaml", []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			l := cat.Scenarios[0].Load
			p, err := l.arrivals(1)
			if err != nil {
				t.Fatal(err)
			}
			_, isPoisson := p.(*loadgen.Poisson)
			if l.Poisson != tt.poisson || isPoisson != tt.poisson {
				t.Fatalf("Poisson = %v, pacer %T; want poisson %v", l.Poisson, p, tt.poisson)
			}
			if got := p.Rate(0); got != 50 {
				t.Fatalf("mean rate %v, want 50", got)
			}
		})
	}
}
