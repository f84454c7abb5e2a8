package tui

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

var testAZs = []string{"ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"}

// testNodes is the default topology's nodes, all up.
func testNodes() []sim.NodeStatus {
	var nodes []sim.NodeStatus
	for i, az := range testAZs {
		role := sim.RoleReplica
		if i == 0 {
			role = sim.RolePrimary
		}
		nodes = append(nodes,
			sim.NodeStatus{ID: "app-" + az + "-0", Service: sim.ServiceApp, AZ: az, Role: sim.RoleMember, State: sim.StateUp},
			sim.NodeStatus{ID: "es-" + az, Service: sim.ServiceSearch, AZ: az, Role: sim.RoleMember, State: sim.StateUp},
			sim.NodeStatus{ID: fmt.Sprintf("kafka-%d-%s", i, az), Service: sim.ServiceKafka, AZ: az, Role: sim.RoleBroker, State: sim.StateUp, Detail: "leads 2/6"},
			sim.NodeStatus{ID: "mysql-" + az, Service: sim.ServiceMySQL, AZ: az, Role: role, State: sim.StateUp},
		)
		if i < 2 {
			nodes = append(nodes, sim.NodeStatus{ID: fmt.Sprintf("redis-%d-%s", i, az), Service: sim.ServiceRedis, AZ: az, Role: role, State: sim.StateUp})
		}
	}
	return nodes
}

// withState returns nodes with every node matching pick set to state.
func withState(nodes []sim.NodeStatus, state sim.State, pick func(sim.NodeStatus) bool) []sim.NodeStatus {
	out := append([]sim.NodeStatus(nil), nodes...)
	for i := range out {
		if pick(out[i]) {
			out[i].State = state
		}
	}
	return out
}

func inAZ(az string) func(sim.NodeStatus) bool {
	return func(s sim.NodeStatus) bool { return s.AZ == az }
}

func tick(sec int, ok, errs int, p99 time.Duration) TickMsg {
	return TickMsg(loadgen.Tick{T: time.Duration(sec) * time.Second, Requests: ok + errs, OK: ok, Errors: errs,
		RPS: float64(ok + errs), P50: p99 / 4, P95: p99 / 2, P99: p99, Max: p99 * 2})
}

// newModel returns a model sized w×h with the topology polled once.
func newModel(t *testing.T, cfg Config, w, h int) Model {
	t.Helper()
	if cfg.Scenario == "" {
		cfg.Scenario = "az-outage"
	}
	m := New(cfg)
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return update(t, m, NodesMsg{Nodes: testNodes(), AZs: testAZs})
}

// update applies msgs in order and returns the model.
func update(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		var ok bool
		if m, ok = next.(Model); !ok {
			t.Fatalf("Update returned %T, want Model", next)
		}
	}
	return m
}

// line returns the first line of view whose text after the left border
// starts with prefix.
func line(t *testing.T, view, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, "│ "), prefix) {
			return l
		}
	}
	t.Fatalf("no line starting with %q in view:\n%s", prefix, view)
	return ""
}

// checkView fails unless view has every want and none of notWant, and fits
// in w×h.
func checkView(t *testing.T, view string, w, h int, want, notWant []string) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := len([]rune(l)); n > w {
			t.Errorf("line %d is %d cells wide, want <= %d: %q", i, n, w, l)
		}
	}
	for _, s := range want {
		if !strings.Contains(view, s) {
			t.Errorf("view lacks %q:\n%s", s, view)
		}
	}
	for _, s := range notWant {
		if strings.Contains(view, s) {
			t.Errorf("view has %q but should not:\n%s", s, view)
		}
	}
}

func TestTopologyFollowsFaults(t *testing.T) {
	a, c := testAZs[0], testAZs[1]
	cases := []struct {
		name    string
		msgs    []tea.Msg
		want    []string
		notWant []string
		// mysqlCol is what the mysql row shows for the first AZ.
		mysqlCol string
	}{
		{
			name:     "steady: every node up, no fault",
			msgs:     []tea.Msg{tick(0, 100, 0, 3*time.Millisecond)},
			want:     []string{"no faults yet", "p99", "3.00ms", "● LOAD"},
			notWant:  []string{"DOWN", "✖ down", "ACTIVE"},
			mysqlCol: "● up primary",
		},
		{
			name: "AZ power loss: the AZ's nodes show down and the fault is active",
			msgs: []tea.Msg{
				tick(19, 100, 0, 3*time.Millisecond),
				FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: a, Start: 20 * time.Second}, Injected: true},
				NodesMsg{Nodes: withState(testNodes(), sim.StateDown, inAZ(a)), AZs: testAZs},
				tick(20, 0, 100, 1070*time.Millisecond),
			},
			want:     []string{a + " DOWN", "Faults (1 active)", "ACTIVE", "az-outage  " + a, "since 20.0s", "p99", "1.07s", "▓", "fault 1 on"},
			notWant:  []string{c + " DOWN", "no faults yet"},
			mysqlCol: "✖ down primary",
		},
		{
			name: "AZ healed: nodes back up, the fault moves to the timeline",
			msgs: []tea.Msg{
				FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: a, Start: 20 * time.Second}, Injected: true},
				NodesMsg{Nodes: withState(testNodes(), sim.StateDown, inAZ(a)), AZs: testAZs},
				FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: a, Start: 20 * time.Second, End: 50 * time.Second}},
				NodesMsg{Nodes: testNodes(), AZs: testAZs},
			},
			want:     []string{"✓ healed", "20.0s→50.0s"},
			notWant:  []string{"DOWN", "ACTIVE", "✖ down"},
			mysqlCol: "● up primary",
		},
		{
			name: "one node paused: the AZ is not down",
			msgs: []tea.Msg{
				FaultMsg{Record: chaos.Record{Kind: "node-pause", Target: "mysql-" + a, Start: 5 * time.Second}, Injected: true},
				NodesMsg{Nodes: withState(testNodes(), sim.StatePaused, func(s sim.NodeStatus) bool { return s.ID == "mysql-"+a }), AZs: testAZs},
			},
			want:     []string{"‖ paused primary", "node-pause", "mysql-" + a},
			notWant:  []string{"DOWN"},
			mysqlCol: "‖ paused primary",
		},
		{
			name: "inject that failed: healed with its error, nothing active",
			msgs: []tea.Msg{
				FaultMsg{Record: chaos.Record{Kind: "node-kill", Target: "nope", InjectErr: "no node nope", End: time.Second}},
			},
			want:     []string{"✓ healed", "node-kill", "inject: no node nope"},
			notWant:  []string{"ACTIVE", "DOWN"},
			mysqlCol: "● up primary",
		},
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], tc.name), func(t *testing.T) {
				m := newModel(t, Config{Duration: 40 * time.Second, Rate: 100}, size[0], size[1])
				m = update(t, m, tc.msgs...)
				view := m.View()
				checkView(t, view, size[0], size[1], tc.want, tc.notWant)
				row := line(t, view, "mysql")
				// The first AZ's column starts right after the 8-cell label.
				col := strings.TrimPrefix(strings.TrimLeft(row, "│ "), "mysql   ")
				if !strings.HasPrefix(col, tc.mysqlCol) {
					t.Errorf("mysql row %q: first AZ shows %q, want %q", row, col, tc.mysqlCol)
				}
			})
		}
	}
}

func testReport(verdict string) *report.Report {
	r := &report.Report{
		Scenario: "az-outage", Verdict: verdict,
		Requests:  report.Requests{Total: 4000, OK: 3065, Unknown: 931},
		LatencyMS: report.Latency{P50: 0.9, P95: 1012, P99: 1071, Max: 1151},
		Recovery:  report.Recovery{RTOS: 10.99},
		Faults:    []report.Fault{{Kind: "az-outage", Target: testAZs[0], StartS: 20.02, EndS: 50.01, RTOS: 10.99}},
		Invariants: []report.Invariant{
			{Name: "conservation", OK: true, Checked: 16636},
			{Name: "no-negative-balance", OK: true, Checked: 10500},
			{Name: "durability", OK: true, Checked: 3065},
		},
		SLOs: []report.SLO{
			{Name: "availability", Target: "80%", Actual: 0.95, OK: true},
			{Name: "rto", Target: "15s", Actual: 10.99, OK: true},
		},
	}
	return r
}

func TestResultRendersVerdict(t *testing.T) {
	failing := testReport(report.VerdictFail)
	failing.Invariants[2] = report.Invariant{Name: "durability", OK: false, Checked: 3065, Violations: 3}
	failing.SLOs[0] = report.SLO{Name: "availability", Target: "80%", Actual: 0.7672, OK: false}
	inconclusive := testReport(report.VerdictInconclusive)
	inconclusive.Inconclusive = "pre-fault throughput 40/s is under 90% of the target"
	stopped := testReport(report.VerdictFail)
	stopped.StoppedBy = "error rate over 50% for 10s"
	interrupted := testReport(report.VerdictFail)
	interrupted.Interrupted, interrupted.Error = true, "interrupted"
	cases := []struct {
		name    string
		res     ResultMsg
		want    []string
		notWant []string
	}{
		{
			name:    "pass",
			res:     ResultMsg{Report: testReport(report.VerdictPass)},
			want:    []string{"VERDICT: PASS", "✔ conservation", "✔ durability", "16636 checked", "✔ availability", "0.95 / 80%", "✔ rto", "RTO 11.0s", "20.0s→50.0s", "report: /runs/x/report.json", "press q to exit"},
			notWant: []string{"FAIL", "✘", "ACTIVE", "STOPPING"},
		},
		{
			name:    "fail: a broken invariant and a missed SLO",
			res:     ResultMsg{Report: failing},
			want:    []string{"VERDICT: FAIL", "✘ durability", "3 violations", "✘ availability", "0.7672 / 80%", "✔ rto"},
			notWant: []string{"VERDICT: PASS"},
		},
		{
			name:    "inconclusive: the run could not judge a pass",
			res:     ResultMsg{Report: inconclusive},
			want:    []string{"VERDICT: INCONCLUSIVE", "inconclusive: pre-fault throughput"},
			notWant: []string{"VERDICT: PASS", "VERDICT: FAIL"},
		},
		{
			name: "stopped by a stop condition",
			res:  ResultMsg{Report: stopped},
			want: []string{"VERDICT: FAIL", "stopped by: error rate over 50% for 10s"},
		},
		{
			name: "interrupted: partial report",
			res:  ResultMsg{Report: interrupted, Err: errors.New("interrupted")},
			want: []string{"VERDICT: FAIL", "interrupted: the report is partial", "INTERRUPTED"},
		},
		{
			name: "no report at all",
			res:  ResultMsg{Err: errors.New("setup: boom")},
			want: []string{"VERDICT: FAIL", "error: setup: boom"},
		},
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], tc.name), func(t *testing.T) {
				m := newModel(t, Config{Duration: 40 * time.Second, Out: "/runs/x", Hold: true}, size[0], size[1])
				m = update(t, m,
					tick(20, 0, 100, time.Second),
					FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: testAZs[0], Start: 20 * time.Second}, Injected: true},
					FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: testAZs[0], Start: 20 * time.Second, End: 50 * time.Second}},
					tc.res)
				checkView(t, m.View(), size[0], size[1], tc.want, tc.notWant)
			})
		}
	}
}

func TestResultChartsShowWholeRun(t *testing.T) {
	m := newModel(t, Config{Duration: 2 * time.Second, Hold: true}, 100, 30)
	m = update(t, m, tick(0, 100, 0, time.Millisecond), tick(1, 50, 50, time.Second), tick(2, 1, 0, time.Millisecond),
		ResultMsg{Report: testReport(report.VerdictPass)})
	view := m.View()
	// Totals and the report's percentiles, not the last (partial) second.
	checkView(t, view, 100, 30, []string{"(run totals)", "(whole run)", "VERDICT: PASS",
		"rps   100/s ", "ok    151 ", "err   50 ", "p99   1.07s ", "max   1.15s "}, []string{"p99   1.00ms"})
}

func TestNodeCell(t *testing.T) {
	a := testAZs[0]
	node := func(role sim.Role, state sim.State, detail string) sim.NodeStatus {
		return sim.NodeStatus{ID: "redis-0-" + a, Service: sim.ServiceRedis, AZ: a, Role: role, State: state, Detail: detail}
	}
	cases := []struct {
		name  string
		nodes []sim.NodeStatus
		want  string
	}{
		{"no node of the service in the AZ", nil, "·"},
		{"up primary", []sim.NodeStatus{node(sim.RolePrimary, sim.StateUp, "")}, "● up primary"},
		{"replica with its lag", []sim.NodeStatus{node(sim.RoleReplica, sim.StateUp, "lag 50ms, 3 pending")}, "● up replica lag 50ms, 3 pending"},
		{"replica cut off from its primary is lagging", []sim.NodeStatus{node(sim.RoleReplica, sim.StateUp, "not replicating")}, "● lagging replica not replicating"},
		{"a primary is never lagging", []sim.NodeStatus{node(sim.RolePrimary, sim.StateUp, "not replicating")}, "● up primary not replicating"},
		{"down", []sim.NodeStatus{node(sim.RolePrimary, sim.StateDown, "")}, "✖ down primary"},
		{"paused", []sim.NodeStatus{node(sim.RoleReplica, sim.StatePaused, "")}, "‖ paused replica"},
		{"isolated", []sim.NodeStatus{node(sim.RoleReplica, sim.StateIsolated, "")}, "◌ isolated replica"},
		{"two nodes: counted per state", []sim.NodeStatus{node(sim.RoleMember, sim.StateUp, ""), node(sim.RoleMember, sim.StateDown, "")}, "● up×1 ✖ down×1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := update(t, New(Config{}), NodesMsg{Nodes: tc.nodes, AZs: testAZs})
			if got := m.cell(sim.ServiceRedis, a); got != tc.want {
				t.Errorf("cell = %q, want %q", got, tc.want)
			}
		})
	}
}

// isQuit reports whether cmd, run, asks the program to quit.
func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestQuit(t *testing.T) {
	cases := []struct {
		name         string
		hold         bool
		quitFirst    bool // q before the result
		wantCancel   bool
		quitOnResult bool
	}{
		{name: "q during the run cancels, then quits on the result", hold: true, quitFirst: true, wantCancel: true, quitOnResult: true},
		{name: "result without hold quits at once", hold: false, quitOnResult: true},
		{name: "result with hold stays for the user", hold: true, quitOnResult: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cancelled := 0
			m := newModel(t, Config{Hold: tc.hold, Cancel: func() { cancelled++ }}, 80, 24)
			if tc.quitFirst {
				next, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
				m = next.(Model)
				if isQuit(cmd) {
					t.Fatal("q during the run quit before the run returned")
				}
				checkView(t, m.View(), 80, 24, []string{"STOPPING", "stopping: healing faults"}, nil)
				// A second Ctrl-C changes nothing: the run is already stopping.
				next, _ = m.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
				m = next.(Model)
			}
			if got := cancelled; (got == 1) != tc.wantCancel || got > 1 {
				t.Fatalf("cancel called %d times, want cancel=%v once", got, tc.wantCancel)
			}
			next, cmd := m.Update(ResultMsg{Report: testReport(report.VerdictPass)})
			m = next.(Model)
			if isQuit(cmd) != tc.quitOnResult {
				t.Fatalf("quit on result = %v, want %v", isQuit(cmd), tc.quitOnResult)
			}
			if !tc.quitOnResult {
				_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
				if !isQuit(cmd) {
					t.Fatal("q after the result did not quit")
				}
				if cancelled != 0 {
					t.Fatal("q after the result cancelled the (finished) run")
				}
			}
		})
	}
}

// fakeControl records what the dashboard asks of the run.
type fakeControl struct {
	mu      sync.Mutex
	nodes   []sim.NodeStatus
	paused  bool
	active  []chaos.Record
	calls   []string
	failAll bool
}

func (f *fakeControl) Nodes() []sim.NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sim.NodeStatus(nil), f.nodes...)
}
func (f *fakeControl) AZs() []string { return testAZs }
func (f *fakeControl) Pause(p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = p
	f.calls = append(f.calls, fmt.Sprintf("pause %v", p))
}
func (f *fakeControl) Paused() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paused
}
func (f *fakeControl) Inject(fl chaos.Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("inject %#v", fl))
	if f.failAll {
		return errors.New("refused")
	}
	f.active = append(f.active, chaos.Record{Kind: fl.Name(), Target: fl.Target()})
	return nil
}
func (f *fakeControl) Heal(kind, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "heal "+kind+" "+target)
	if f.failAll {
		return errors.New("refused")
	}
	f.active = nil
	return nil
}
func (f *fakeControl) Active() []chaos.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chaos.Record(nil), f.active...)
}
func (f *fakeControl) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// press sends keys one by one, running each returned command once (as the
// program would) and feeding its message back.
func press(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		next, cmd := m.Update(msg)
		m = next.(Model)
		if cmd != nil {
			if out := cmd(); out != nil {
				m = update(t, m, out)
			}
		}
	}
	return m
}

func TestKeysDriveTheRun(t *testing.T) {
	a := testAZs[0]
	cases := []struct {
		name      string
		keys      []string
		active    []chaos.Record
		failAll   bool
		noControl bool
		wantCalls []string
		want      []string
	}{
		{name: "p pauses, p again resumes", keys: []string{"p", "p"}, wantCalls: []string{"pause true", "pause false"}, want: []string{"load resumed"}},
		{name: "f, enter, enter: AZ power loss on the first AZ", keys: []string{"f", "enter", "enter"},
			wantCalls: []string{fmt.Sprintf("inject %#v", chaos.AZPower{AZ: a})}, want: []string{"inject az-outage on " + a}},
		{name: "f, down×3, enter, down, enter: latency on the second node", keys: []string{"f", "down", "down", "down", "enter", "down", "enter"},
			wantCalls: []string{fmt.Sprintf("inject %#v", chaos.Latency{Node: "es-" + a, Delay: 200, Jitter: 50})}},
		{name: "f, down, enter: node kill menu lists nodes", keys: []string{"f", "down", "enter"},
			want: []string{"node-kill: kill one node", "▸ app-" + a + "-0", "mysql-" + a}},
		{name: "heal a manual fault", keys: []string{"f", "down", "down", "down", "down", "enter", "enter"},
			active: []chaos.Record{{Kind: "node-kill", Target: "mysql-" + a}}, wantCalls: []string{"heal node-kill mysql-" + a}},
		{name: "sad: an inject the run refuses shows its error", keys: []string{"f", "enter", "enter"}, failAll: true,
			wantCalls: []string{fmt.Sprintf("inject %#v", chaos.AZPower{AZ: a})}, want: []string{"inject az-outage on " + a + ": refused"}},
		{name: "sad: esc backs out without injecting", keys: []string{"f", "enter", "esc", "esc"}, want: []string{"no faults yet"}},
		{name: "sad: no control, no menu", keys: []string{"f", "enter", "p"}, noControl: true, want: []string{"faults: the run is no longer live"}},
		{name: "f lists every action", keys: []string{"f"}, want: []string{"▸ az-outage: power loss of an AZ", "latency: 200ms ±50ms", "heal a manual fault (0 active)"}},
		{name: "? shows help", keys: []string{"?"}, want: []string{"Help", "pause/resume load", "◌ isolated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeControl{nodes: testNodes(), active: tc.active, failAll: tc.failAll}
			cfg := Config{Control: fc}
			if tc.noControl {
				cfg.Control = nil
			}
			m := newModel(t, cfg, 80, 24) // the smallest screen it must work on
			m = update(t, m, NodesMsg{Nodes: fc.Nodes(), AZs: testAZs, Manual: fc.Active()})
			m = press(t, m, tc.keys...)
			if got := fc.Calls(); strings.Join(got, "\n") != strings.Join(tc.wantCalls, "\n") {
				t.Errorf("control calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantCalls, "\n"))
			}
			checkView(t, m.View(), 80, 24, tc.want, nil)
		})
	}
}

func TestPhases(t *testing.T) {
	m := newModel(t, Config{Duration: 3 * time.Second, Rate: 100}, 80, 24)
	checkView(t, m.View(), 80, 24, []string{"● LOAD t=0s/3s · target 100/s"}, nil)
	m = update(t, m, tick(0, 100, 0, time.Millisecond), tick(1, 100, 0, time.Millisecond))
	checkView(t, m.View(), 80, 24, []string{"● LOAD t=2s/3s"}, nil)
	m = update(t, m, tick(2, 100, 0, time.Millisecond))
	checkView(t, m.View(), 80, 24, []string{"load done t=3s/3s · healing, draining"}, []string{"● LOAD"})
	m = update(t, m, EventMsg("drain: complete=true in 0.01s (bound 30s)"))
	checkView(t, m.View(), 80, 24, []string{"checking invariants", "drain: complete=true"}, nil)
}

func TestResizeKeepsFrame(t *testing.T) {
	m := newModel(t, Config{Duration: 40 * time.Second}, 80, 24)
	for _, size := range [][2]int{{60, 18}, {80, 24}, {120, 40}, {200, 60}} {
		m = update(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]}, tick(1, 100, 0, time.Millisecond))
		checkView(t, m.View(), size[0], size[1], []string{"Topology"}, nil)
	}
}

// BenchmarkTickView is the dashboard's cost per message: one tick folded
// in and the frame rebuilt (bubbletea calls View after every message and
// flushes at most 10 frames a second), in plain text and in true colour.
func BenchmarkTickView(b *testing.B) {
	for _, p := range []termenv.Profile{termenv.Ascii, termenv.TrueColor} {
		name := map[termenv.Profile]string{termenv.Ascii: "ascii", termenv.TrueColor: "truecolor"}[p]
		b.Run(name, func(b *testing.B) {
			r := lipgloss.NewRenderer(io.Discard)
			r.SetColorProfile(p)
			m := New(Config{Scenario: "baseline", Duration: time.Hour, Rate: 1000, Renderer: r})
			next, _ := m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
			next, _ = next.Update(NodesMsg{Nodes: testNodes(), AZs: testAZs})
			next, _ = next.Update(FaultMsg{Record: chaos.Record{Kind: "az-outage", Target: testAZs[0], Start: time.Second}, Injected: true})
			if colour := strings.Contains(next.View(), "\x1b["); colour != (p != termenv.Ascii) {
				b.Fatalf("profile %v: escape codes in the view = %v", p, colour)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				next, _ = next.Update(tick(i, 1000, 0, 3*time.Millisecond))
				_ = next.View()
			}
		})
	}
}
