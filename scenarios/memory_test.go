package scenarios

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"paysim/internal/hoststat"
)

// TestMemorySamplerPhases: samples are taken on the tick and at each phase
// change, tagged with the phase they close, and printed on the tick.
func TestMemorySamplerPhases(t *testing.T) {
	var n atomic.Int64
	read := func() hoststat.Memory {
		i := n.Add(1)
		return hoststat.Memory{RSS: i << 20, HeapLive: i << 19, GoHeld: i << 19}
	}
	var out bytes.Buffer
	m := sampleMemory(time.Now(), 10*time.Millisecond, &out, read)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for n.Load() < 2 { // two ticks in the load phase
		if ctx.Err() != nil {
			t.Fatal("no tick in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	m.enter("drain")
	m.enter("checks")
	pts := m.stop()
	if len(pts) < 5 {
		t.Fatalf("%d samples, want >= 5: %+v", len(pts), pts)
	}
	last := pts[len(pts)-1]
	if last.Phase != "checks" || last.RSSMB != float64(len(pts)) || last.HeapLiveMB != float64(len(pts))/2 || last.GoHeldMB != float64(len(pts))/2 {
		t.Errorf("last sample %+v, want phase checks, rss %d MB", last, len(pts))
	}
	phases := map[string]int{}
	for i, p := range pts {
		phases[p.Phase]++
		if i > 0 && p.TS < pts[i-1].TS {
			t.Errorf("samples out of order: %+v", pts)
		}
	}
	if phases["load"] < 3 || phases["drain"] < 1 {
		t.Errorf("phases %v: want >= 3 load samples (2 ticks and its end) and the drain's end", phases)
	}
	if !strings.Contains(out.String(), "memory at ") || !strings.Contains(out.String(), "(load): rss=1MB (files 0MB)") {
		t.Errorf("events %q: want the ticks printed", out.String())
	}
}
