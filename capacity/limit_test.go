package capacity

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// writeProfile writes a CPU profile whose samples have the given stacks
// (leaf first) and values.
func writeProfile(t *testing.T, stacks map[string]int64) string {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000,
	}
	fns := map[string]*profile.Function{}
	var id uint64
	for stack, v := range stacks {
		s := &profile.Sample{Value: []int64{v / 10_000_000, v}}
		for _, name := range strings.Split(stack, " < ") {
			fn, ok := fns[name]
			if !ok {
				id++
				fn = &profile.Function{ID: id, Name: name}
				fns[name] = fn
				p.Function = append(p.Function, fn)
			}
			id++
			loc := &profile.Location{ID: id, Line: []profile.Line{{Function: fn}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTierShares(t *testing.T) {
	path := writeProfile(t, map[string]int64{
		// A write to the ledger's socket is the ledger's, though the leaf is a syscall.
		"internal/runtime/syscall/linux.Syscall6 < syscall.write < net.(*conn).Write < github.com/go-sql-driver/mysql.(*mysqlConn).writePacket < paysim/sim/payments.(*Service).pay": 400,
		"modernc.org/sqlite/lib._sqlite3VdbeExec < paysim/sim/embedded/mysqlwire.(*handler).query":                                                                                   200,
		"encoding/json.Marshal < paysim/sim/payments.(*Service).pay < net/http.HandlerFunc.ServeHTTP < net/http.(*conn).serve":                                                       100,
		"internal/runtime/syscall/linux.Syscall6 < net/http.(*response).finishRequest < net/http.(*conn).serve":                                                                      100,
		"runtime.scanobject < runtime.gcDrain < runtime.gcBgMarkWorker":                                                                                                              100,
		"net/http.(*Transport).roundTrip < github.com/tsenart/vegeta/v12/lib.(*Attacker).hit":                                                                                        50,
		"runtime.futex < runtime.findRunnable < runtime.schedule":                                                                                                                    50,
	})
	shares, err := TierShares(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{TierLedger: 0.6, TierApp: 0.1, TierHTTP: 0.1, TierGC: 0.1, TierLoadgen: 0.05, TierOther: 0.05}
	if len(shares) != len(want) || shares[0].Tier != TierLedger {
		t.Fatalf("shares %+v", shares)
	}
	for _, s := range shares {
		if math.Abs(s.Share-want[s.Tier]) > 1e-9 {
			t.Errorf("%s: %.3f, want %.3f", s.Tier, s.Share, want[s.Tier])
		}
	}
	l := limitOf(&Step{Rate: 900, HostCPUBusy: 0.97, Why: "p99 900 ms over 200ms"}, shares)
	if l.Tier != TierLedger || !strings.Contains(l.Sentence, "CPU is the limit") || !strings.Contains(l.Sentence, "60%") {
		t.Fatalf("limit %+v", l)
	}
	if l := limitOf(&Step{Rate: 900, HostCPUBusy: 0.5, Why: "p99"}, shares); !strings.Contains(l.Sentence, "not CPU") {
		t.Fatalf("limit on an idle host: %s", l.Sentence)
	}
	if _, err := TierShares(filepath.Join(t.TempDir(), "none.pprof")); err == nil {
		t.Fatal("a missing profile gave no error")
	}
}
