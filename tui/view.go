package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

// Panel heights (borders included).
const (
	chartsHeight = 7 // five rows of charts
	minFaults    = 3 // one row of faults
)

// serviceRows are the topology panel's rows, in order.
func serviceRows() []struct {
	svc   sim.Service
	label string
} {
	return []struct {
		svc   sim.Service
		label string
	}{
		{sim.ServiceApp, "app"},
		{sim.ServiceMySQL, "mysql"},
		{sim.ServiceRedis, "redis"},
		{sim.ServiceKafka, "kafka"},
		{sim.ServiceSearch, "elastic"},
	}
}

// View renders the dashboard to exactly the window's height.
func (m Model) View() string {
	w, h := max(m.width, 20), max(m.height, 4)
	lines := make([]string, 0, h)
	lines = append(lines, m.header(w))
	body := h - 2
	if m.result != nil {
		lines = append(lines, m.resultBody(w, body)...)
	} else {
		lines = append(lines, m.liveBody(w, body)...)
	}
	if len(lines) > h-1 {
		lines = lines[:h-1]
	}
	for len(lines) < h-1 {
		lines = append(lines, "")
	}
	lines = append(lines, m.footer(w))
	return strings.Join(lines, "\n")
}

func (m Model) liveBody(w, h int) []string {
	out := m.topologyBox(w)
	rest := h - len(out)
	switch {
	case m.showHelp:
		return append(out, m.helpBox(w, rest)...)
	case m.menu.open: // the menu takes the charts' room while it is open
		title, lines := m.menuView(rest - 2)
		return append(out, m.st.box(title, lines, w, rest)...)
	case rest >= chartsHeight+minFaults+2:
		out = append(out, m.charts(w)...)
		rest -= chartsHeight
	}
	return append(out, m.faultsBox(w, rest)...)
}

func (m Model) resultBody(w, h int) []string {
	if m.showHelp {
		return m.helpBox(w, h)
	}
	res := m.resultLines(w - 4)
	out := m.st.box("Result", res, w, min(len(res)+2, h))
	rest := h - len(out)
	if rest >= chartsHeight+minFaults+2 {
		out = append(out, m.charts(w)...)
		rest -= chartsHeight
	}
	if rest >= minFaults {
		out = append(out, m.faultsBox(w, rest)...)
	}
	return out
}

// elapsed is the load time covered by the ticks so far.
func (m Model) elapsed() time.Duration {
	if len(m.ticks) == 0 {
		return 0
	}
	e := m.ticks[len(m.ticks)-1].T + time.Second
	if m.cfg.Duration > 0 {
		e = min(e, m.cfg.Duration) // the last interval may straddle the end
	}
	return e
}

func (m Model) header(w int) string {
	left := m.st.title.Render("paysim") + " " + m.st.bold.Render(m.cfg.Scenario)
	if m.cfg.Mode != "" {
		left += m.st.dim.Render(" · " + m.cfg.Mode)
	}
	t := fmt.Sprintf("t=%.0fs", m.elapsed().Seconds())
	if m.cfg.Duration > 0 {
		t += fmt.Sprintf("/%.0fs", m.cfg.Duration.Seconds())
	}
	var right string
	switch m.phase {
	case phaseLoad:
		right = m.st.up.Render("● LOAD") + " " + t
		if m.paused {
			right = m.st.warn.Render("‖ PAUSED") + " " + t
		}
		if m.cfg.Rate > 0 {
			right += fmt.Sprintf(" · target %.0f/s", m.cfg.Rate)
		}
	case phaseFinishing:
		right = m.spin.View() + " load done " + t + " · healing, draining"
	case phaseChecking:
		right = m.spin.View() + " drained · checking invariants"
	case phaseStopping:
		right = m.spin.View() + m.st.warn.Render(" STOPPING") + " healing, tearing down"
	case phaseDone:
		right = m.st.bold.Render("DONE") + " " + t
		if m.result != nil && m.result.Interrupted {
			right = m.st.warn.Render("INTERRUPTED") + " " + t
		}
	}
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		return fit(left+" "+right, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) footer(w int) string {
	k := m.keys
	k.Pause.SetEnabled(m.live())
	k.Fault.SetEnabled(m.live())
	keys := m.help.ShortHelpView(k.ShortHelp())
	note := m.lastEvent
	if m.phase == phaseDone && m.cfg.Hold {
		note = "run finished · press q to exit"
	}
	if note != "" {
		keys += m.st.dim.Render(" │ ") + note
	}
	return fit(keys, w)
}

// azList is the AZs in topology order, or as the nodes name them.
func (m Model) azList() []string {
	if len(m.azs) > 0 {
		return m.azs
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range m.nodes {
		if !seen[n.AZ] {
			seen[n.AZ] = true
			out = append(out, n.AZ)
		}
	}
	return out
}

func (m Model) topologyBox(w int) []string {
	azs := m.azList()
	rows := serviceRows()
	lines := make([]string, 0, len(rows)+1)
	if len(azs) == 0 {
		lines = append(lines, m.st.dim.Render("waiting for the stack…"))
		return m.st.box("Topology", lines, w, len(rows)+3)
	}
	const lw = 8
	colW := max(4, (w-4-lw)/len(azs))
	hdr := strings.Repeat(" ", lw)
	for _, az := range azs {
		hdr += fit(m.azHeader(az), colW)
	}
	lines = append(lines, hdr)
	for _, r := range rows {
		l := fit(r.label, lw)
		for _, az := range azs {
			l += fit(m.cell(r.svc, az), colW-1) + " "
		}
		lines = append(lines, l)
	}
	return m.st.box("Topology", lines, w, len(rows)+3)
}

func (m Model) azHeader(az string) string {
	n, down := 0, 0
	for _, s := range m.nodes {
		if s.AZ == az {
			n++
			if s.State == sim.StateDown {
				down++
			}
		}
	}
	switch {
	case n > 0 && down == n:
		return m.st.bold.Render(az) + " " + m.st.down.Render("DOWN")
	case down > 0:
		return m.st.bold.Render(az) + " " + m.st.warn.Render(fmt.Sprintf("%d/%d down", down, n))
	}
	return m.st.bold.Render(az)
}

// cell is one service in one AZ: state, role and detail of its node, or a
// count per state when the AZ runs several.
func (m Model) cell(svc sim.Service, az string) string {
	var here []sim.NodeStatus
	for _, s := range m.nodes {
		if s.Service == svc && s.AZ == az {
			here = append(here, s)
		}
	}
	switch len(here) {
	case 0:
		return m.st.dim.Render("·")
	case 1:
		s := here[0]
		out := m.state(s) + " " + string(s.Role)
		if s.Detail != "" {
			out += " " + m.st.dim.Render(s.Detail)
		}
		return out
	}
	counts := map[sim.State]int{}
	for _, s := range here {
		counts[s.State]++
	}
	var parts []string
	for _, st := range []sim.State{sim.StateUp, sim.StateDown, sim.StatePaused, sim.StateIsolated} {
		if c := counts[st]; c > 0 {
			parts = append(parts, m.state(sim.NodeStatus{State: st})+fmt.Sprintf("×%d", c))
		}
	}
	return strings.Join(parts, " ")
}

// state is a node's glyph and state word, coloured; a running node whose
// detail says it lags shows as lagging.
func (m Model) state(s sim.NodeStatus) string {
	switch s.State {
	case sim.StateUp:
		if lagging(s) {
			return m.st.warn.Render("● lagging")
		}
		return m.st.up.Render("● up")
	case sim.StateDown:
		return m.st.down.Render("✖ down")
	case sim.StatePaused:
		return m.st.paused.Render("‖ paused")
	case sim.StateIsolated:
		return m.st.isolated.Render("◌ isolated")
	}
	return string(s.State)
}

// lagging reports whether a running replica says it is behind or cut off
// from its primary.
func lagging(s sim.NodeStatus) bool {
	if s.Role != sim.RoleReplica {
		return false
	}
	d := strings.ToLower(s.Detail)
	return strings.Contains(d, "lagging") || strings.Contains(d, "not replicating")
}

// charts are the throughput/errors and latency panels side by side.
func (m Model) charts(w int) []string {
	lw := w / 2
	rw := w - lw
	left := m.throughputLines(lw - 4)
	right := m.latencyLines(rw - 4)
	lt, rt := "Throughput · errors", "Latency"
	if m.result != nil {
		lt, rt = "Throughput · errors (run totals)", "Latency (whole run)"
	}
	return beside(m.st.box(lt, left, lw, chartsHeight), m.st.box(rt, right, rw, chartsHeight))
}

// series is the last n ticks' values of one metric.
func series(ticks []loadgen.Tick, n int, f func(loadgen.Tick) float64) []float64 {
	if len(ticks) > n {
		ticks = ticks[len(ticks)-n:]
	}
	out := make([]float64, len(ticks))
	for i, t := range ticks {
		out[i] = f(t)
	}
	return out
}

func (m Model) last() loadgen.Tick {
	if len(m.ticks) == 0 {
		return loadgen.Tick{}
	}
	return m.ticks[len(m.ticks)-1]
}

const (
	chartLabel = 6 // "fault "
	chartValue = 9 // " 1071ms  "
)

func (m Model) chartRow(label, value string, vals []float64, w int) string {
	return fit(label, chartLabel) + fit(value, chartValue) + spark(vals, w-chartLabel-chartValue)
}

func (m Model) throughputLines(w int) []string {
	n := max(1, w-chartLabel-chartValue)
	t := m.last()
	rps := fmt.Sprintf("%.0f/s", t.RPS)
	if m.result != nil { // the whole run rather than its last second
		t = loadgen.Tick{OK: m.totOK, Errors: m.totErr, Failed: m.totFailed}
		rps = fmt.Sprintf("%.0f/s", m.meanRPS())
	}
	return []string{
		m.chartRow("rps", rps, series(m.ticks, n, func(t loadgen.Tick) float64 { return t.RPS }), w),
		m.chartRow("ok", fmt.Sprint(t.OK), series(m.ticks, n, func(t loadgen.Tick) float64 { return float64(t.OK) }), w),
		m.chartRow("err", fmt.Sprint(t.Errors), series(m.ticks, n, func(t loadgen.Tick) float64 { return float64(t.Errors) }), w),
		m.chartRow("4xx", fmt.Sprint(t.Failed), series(m.ticks, n, func(t loadgen.Tick) float64 { return float64(t.Failed) }), w),
		fit("fault", chartLabel) + fit(m.activeCount(), chartValue) + m.faultMarks(n),
	}
}

func (m Model) latencyLines(w int) []string {
	n := max(1, w-chartLabel-chartValue)
	t := m.last()
	if r := m.result; r != nil && r.Requests.Total > 0 { // the whole run
		ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
		t = loadgen.Tick{P50: ms(r.LatencyMS.P50), P95: ms(r.LatencyMS.P95), P99: ms(r.LatencyMS.P99), Max: ms(r.LatencyMS.Max)}
	}
	ms := func(f func(loadgen.Tick) time.Duration) []float64 {
		return series(m.ticks, n, func(t loadgen.Tick) float64 { return float64(f(t)) })
	}
	return []string{
		m.chartRow("p50", dur(t.P50), ms(func(t loadgen.Tick) time.Duration { return t.P50 }), w),
		m.chartRow("p95", dur(t.P95), ms(func(t loadgen.Tick) time.Duration { return t.P95 }), w),
		m.chartRow("p99", dur(t.P99), ms(func(t loadgen.Tick) time.Duration { return t.P99 }), w),
		m.chartRow("max", dur(t.Max), ms(func(t loadgen.Tick) time.Duration { return t.Max }), w),
		fit("fault", chartLabel) + fit("", chartValue) + m.faultMarks(n),
	}
}

// meanRPS is the mean completion rate of the load so far.
func (m Model) meanRPS() float64 {
	e := m.elapsed().Seconds()
	if e <= 0 {
		return 0
	}
	return float64(m.totOK+m.totErr+m.totFailed) / e
}

func (m Model) activeCount() string {
	n := 0
	for _, f := range m.faults {
		if f.active {
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d on", n)
}

// faultMarks marks, for each of the last n seconds, whether a fault was in
// force (▓) or not (·), aligned with the sparklines above.
func (m Model) faultMarks(n int) string {
	ticks := m.ticks
	if len(ticks) > n {
		ticks = ticks[len(ticks)-n:]
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", n-len(ticks)))
	run, inRun := 0, false
	flush := func() {
		if run == 0 {
			return
		}
		if inRun {
			b.WriteString(m.st.fault.Render(strings.Repeat("▓", run)))
		} else {
			b.WriteString(m.st.dim.Render(strings.Repeat("·", run)))
		}
		run = 0
	}
	for _, t := range ticks {
		on := m.faultAt(t.T)
		if on != inRun {
			flush()
			inRun = on
		}
		run++
	}
	flush()
	return b.String()
}

// faultAt reports whether any fault was in force during [t, t+1s).
func (m Model) faultAt(t time.Duration) bool {
	for _, f := range m.faults {
		if f.start >= t+time.Second || f.start == 0 && f.end == 0 {
			continue
		}
		if f.active || f.end > t {
			return true
		}
	}
	return false
}

func (m Model) faultsBox(w, h int) []string {
	var lines []string
	active := 0
	for _, f := range m.faults {
		if f.active {
			active++
		}
		lines = append(lines, m.faultLine(f))
	}
	title := "Faults"
	if active > 0 {
		title = fmt.Sprintf("Faults (%d active)", active)
	}
	if len(lines) == 0 {
		lines = append(lines, m.st.dim.Render("no faults yet · f injects one by hand"))
	}
	rows := h - 2
	if m.status != "" {
		rows-- // the status line goes first
	}
	if rows > 0 && len(lines) > rows {
		lines = lines[len(lines)-rows:] // the most recent
	}
	if m.status != "" {
		st := m.st.dim
		if m.statusErr {
			st = m.st.warn
		}
		lines = append([]string{st.Render("» " + m.status)}, lines...)
	}
	return m.st.box(title, lines, w, h)
}

func (m Model) faultLine(f faultRow) string {
	var l string
	if f.active {
		l = m.st.fault.Render("▶ ACTIVE ") + fmt.Sprintf(" %-10s %-23s since %s", f.kind, f.target, secs(f.start))
	} else {
		l = m.st.pass.Render("✓ healed ") + fmt.Sprintf(" %-10s %-23s %s→%s", f.kind, f.target, secs(f.start), secs(f.end))
		if f.hasRTO {
			l += m.st.bold.Render(fmt.Sprintf("  RTO %.1fs", f.rto))
		}
	}
	if f.manual {
		l += m.st.dim.Render(" (manual)")
	}
	if f.err != "" {
		l += " " + m.st.warn.Render(f.err)
	}
	return l
}

func (m Model) helpBox(w, h int) []string {
	m.help.ShowAll = true
	lines := strings.Split(m.help.View(m.keys), "\n")
	lines = append(lines, "",
		m.st.up.Render("● up")+"  "+m.st.down.Render("✖ down")+"  "+m.st.paused.Render("‖ paused")+"  "+m.st.isolated.Render("◌ isolated")+"  "+m.st.warn.Render("● lagging"),
		"Topology refreshes every "+m.cfg.Poll.String()+". Charts: one column per second;",
		m.st.fault.Render("▓")+" marks seconds with a fault in force. Each fault's RTO shows once",
		"the run has reported.",
		m.st.dim.Render("? or esc closes this help"))
	return m.st.box("Help", lines, w, h)
}

// resultLines are the verdict, the invariants and the SLOs in w cells.
func (m Model) resultLines(w int) []string {
	r := m.result
	badgeStyle := m.st.failBadge
	switch r.Verdict {
	case report.VerdictPass:
		badgeStyle = m.st.passBadge
	case report.VerdictInconclusive:
		badgeStyle = m.st.warnBadge
	}
	badge := badgeStyle.Render(" VERDICT: " + strings.ToUpper(r.Verdict) + " ")
	q := r.Requests
	okPct := 0.0
	if q.Total > 0 {
		okPct = 100 * float64(q.OK) / float64(q.Total)
	}
	lines := []string{badge, fmt.Sprintf("requests %d · ok %.1f%% · unknown %d · p99 %.0fms · RTO %.1fs · lost %d",
		q.Total, okPct, q.Unknown, r.LatencyMS.P99, r.Recovery.RTOS, r.Recovery.RPOLostPayments)}
	if r.Interrupted {
		lines = append(lines, m.st.warn.Render("interrupted: the report is partial"))
	}
	if r.Error != "" {
		lines = append(lines, m.st.fail.Render("error: "+r.Error))
	}
	if r.StoppedBy != "" {
		lines = append(lines, m.st.warn.Render("stopped by: "+r.StoppedBy))
	}
	if r.Verdict == report.VerdictInconclusive {
		reasons := r.Reasons
		if len(reasons) == 0 && r.Inconclusive != "" { // a report not decided here
			reasons = []string{r.Inconclusive}
		}
		for _, why := range reasons {
			lines = append(lines, m.st.warn.Render("inconclusive: "+why))
		}
	}
	var inv, slo []string
	for _, i := range r.Invariants {
		detail := fmt.Sprintf("%d checked", i.Checked)
		switch i.State() {
		case report.StatusFail:
			detail = fmt.Sprintf("%d violations", i.Violations)
		case report.StatusNotApplicable:
			detail = "needs " + i.Needs
		}
		inv = append(inv, fmt.Sprintf("%s %-19s %s %s", m.mark(i.State()), i.Name, m.okWord(i.State()), detail))
	}
	for _, s := range r.SLOs {
		slo = append(slo, fmt.Sprintf("%s %-12s %s %s", m.mark(s.State()), s.Name, m.okWord(s.State()), fmt.Sprintf("%.4g / %s", s.Actual, s.Target)))
	}
	invHead, sloHead := m.st.dim.Render("Invariants"), m.st.dim.Render("SLOs (actual / target)")
	const leftW = 41
	if w >= leftW+30 {
		left := append([]string{invHead}, inv...)
		right := append([]string{sloHead}, slo...)
		for i := range max(len(left), len(right)) {
			l, r := "", ""
			if i < len(left) {
				l = left[i]
			}
			if i < len(right) {
				r = right[i]
			}
			lines = append(lines, fit(l, leftW)+r)
		}
	} else {
		lines = append(lines, invHead)
		lines = append(lines, inv...)
		lines = append(lines, sloHead)
		lines = append(lines, slo...)
	}
	if m.cfg.Out != "" {
		lines = append(lines, m.st.dim.Render("report: "+strings.TrimSuffix(m.cfg.Out, "/")+"/report.json"))
	}
	return lines
}

// mark is a check's status as a sign: pass, fail, or neither (not
// applicable, inconclusive).
func (m Model) mark(status string) string {
	switch status {
	case report.StatusPass:
		return m.st.pass.Render("✔")
	case report.StatusFail:
		return m.st.fail.Render("✘")
	}
	return m.st.warn.Render("?")
}

// okWord is a check's status as a four-cell word.
func (m Model) okWord(status string) string {
	switch status {
	case report.StatusPass:
		return m.st.pass.Render("ok  ")
	case report.StatusNotApplicable:
		return m.st.warn.Render("n/a ")
	case report.StatusInconclusive:
		return m.st.warn.Render("??  ")
	}
	return m.st.fail.Render("FAIL")
}
