package chaos

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"paysim/internal/testwait"
	"paysim/sim"
	"paysim/sim/stack/stacktest"
)

// recorder is a fault that only records when it was injected and healed.
type recorder struct {
	mu             sync.Mutex
	injects, heals int
	failInject     bool
}

func (r *recorder) Name() string      { return "recorder" }
func (r *recorder) Needs() []sim.Need { return nil }
func (r *recorder) Target() string    { return "nothing" }
func (r *recorder) Inject(context.Context, Cluster) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.injects++
	if r.failInject {
		return errors.New("refused")
	}
	return nil
}
func (r *recorder) Heal(context.Context, Cluster) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heals++
	return nil
}

type noNodes struct{}

func (noNodes) Nodes() []sim.Node { return nil }

func TestScheduleTimesAndHeals(t *testing.T) {
	tests := []struct {
		name       string
		cancelAt   time.Duration
		failInject bool
		wantHeal   int
		wantErr    bool
	}{
		{name: "runs its window", wantHeal: 1},
		{name: "cancelled mid-fault still heals", cancelAt: 120 * time.Millisecond, wantHeal: 1},
		{name: "cancelled before the fault never injects", cancelAt: 10 * time.Millisecond, wantHeal: 0},
		{name: "a failed inject is healed and reported", failInject: true, wantHeal: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelAt > 0 {
				time.AfterFunc(tc.cancelAt, cancel)
			}
			f := &recorder{failInject: tc.failInject}
			epoch := time.Now()
			recs, err := Run(ctx, noNodes{}, epoch, []Entry{{Fault: f, At: 50 * time.Millisecond, For: 200 * time.Millisecond}}, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if f.heals != tc.wantHeal {
				t.Fatalf("healed %d times, want %d", f.heals, tc.wantHeal)
			}
			r := recs[0]
			if tc.wantHeal == 1 && !tc.failInject {
				if r.Start < 50*time.Millisecond || r.End < r.Start {
					t.Fatalf("record %+v: start before its time or end before start", r)
				}
				if tc.cancelAt == 0 && r.End < 250*time.Millisecond {
					t.Fatalf("record %+v ended before its window", r)
				}
			}
		})
	}
}

func nodeIn(t *testing.T, c Cluster, svc sim.Service, az string) sim.Node {
	t.Helper()
	for _, n := range c.Nodes() {
		if s := n.Status(); s.Service == svc && (az == "" || s.AZ == az) {
			return n
		}
	}
	t.Fatalf("no %s node in %q", svc, az)
	return nil
}

func get(url string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return time.Since(start), nil
}

// TestFaultsHaveObservableEffects injects each kind into a real stack and
// checks what a client sees, then that healing restores it.
func TestFaultsHaveObservableEffects(t *testing.T) {
	s := stacktest.New(t)
	ctx := context.Background()
	az := sim.DefaultTopology().AZs[1]
	es := nodeIn(t, s, sim.ServiceSearch, az)
	app := nodeIn(t, s, sim.ServiceApp, az)
	esURL := "http://" + es.Status().Addr + "/_cluster/health"
	appURL := "http://" + app.Status().Addr + "/healthz"
	tests := []struct {
		fault  Fault
		broken func() bool // true once the effect is visible
	}{
		{NodeKill{Node: es.Status().ID}, func() bool { _, err := get(esURL, time.Second); return err != nil }},
		{NodePause{Node: es.Status().ID}, func() bool { _, err := get(esURL, 300*time.Millisecond); return err != nil }},
		{Latency{Node: app.Status().ID, Delay: 200}, func() bool { d, err := get(appURL, 2*time.Second); return err == nil && d >= 200*time.Millisecond }},
		{AZPower{AZ: az}, func() bool {
			for _, n := range s.Nodes() {
				if n.Status().AZ == az && n.Status().State != sim.StateDown {
					return false
				}
			}
			_, err := get(appURL, time.Second)
			return err != nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fault.Name(), func(t *testing.T) {
			if tc.broken() {
				t.Fatal("effect visible before the fault")
			}
			if err := tc.fault.Inject(ctx, s); err != nil {
				t.Fatal(err)
			}
			if !tc.broken() {
				_ = tc.fault.Heal(ctx, s)
				t.Fatalf("%s on %s changed nothing a client can see", tc.fault.Name(), tc.fault.Target())
			}
			if err := tc.fault.Heal(ctx, s); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 10*time.Second, "healing to restore the path", func() bool { return !tc.broken() })
		})
	}
	// The API keeps answering through the other AZs while one is dark.
	outage := AZPower{AZ: az}
	if err := outage.Inject(ctx, s); err != nil {
		t.Fatal(err)
	}
	defer outage.Heal(ctx, s)
	testwait.For(t, 10*time.Second, "the API to answer with an AZ down", func() bool {
		_, err := get(s.Endpoints().API.URL+"/v1/accounts/u-1", time.Second)
		return err == nil
	})
}
