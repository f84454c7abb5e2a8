package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

// Config describes the run a Model shows and how it reaches it.
type Config struct {
	Scenario string        // scenario name, for the header
	Mode     string        // embedded or containers
	Duration time.Duration // planned load duration
	Rate     float64       // target rate per second (0 if unknown)
	Out      string        // artifact directory, shown with the verdict
	// Control drives the running scenario; nil disables pause and faults.
	Control Control
	// Cancel stops the run (q / Ctrl-C); the model keeps rendering until
	// a ResultMsg arrives. Nil is a no-op.
	Cancel func()
	// Hold keeps the result on screen until the user quits; without it
	// the program ends as soon as the result is in.
	Hold bool
	// Feed carries the run's messages (TickMsg, FaultMsg, EventMsg,
	// ResultMsg); nil when messages are sent to the program directly.
	Feed <-chan tea.Msg
	// Poll is how often the topology is polled; default 250ms.
	Poll time.Duration
	// Renderer picks the colour profile; default lipgloss's default renderer.
	Renderer *lipgloss.Renderer
}

// phase is where the run is, as the dashboard sees it.
type phase int

const (
	phaseLoad      phase = iota // load running
	phaseFinishing              // load over: faults heal, queues drain
	phaseChecking               // drained: checkers running
	phaseStopping               // the user quit: heal, tear down, partial report
	phaseDone                   // the report is in
)

// maxTicks bounds the metrics history kept for the charts.
const maxTicks = 3600

// faultRow is one fault on the timeline.
type faultRow struct {
	kind, target string
	start, end   time.Duration
	active       bool
	manual       bool
	err          string
	rto          float64 // seconds; valid when hasRTO
	hasRTO       bool
}

// Model is the dashboard's bubbletea model. All data arrives as messages;
// View is a pure function of the model.
type Model struct {
	cfg  Config
	st   styles
	keys keyMap
	help help.Model
	spin spinner.Model

	width, height int
	ticks         []loadgen.Tick
	nodes         []sim.NodeStatus
	azs           []string
	faults        []faultRow
	manual        []chaos.Record
	paused        bool
	phase         phase
	spinning      bool
	result        *report.Report
	resultErr     error
	showHelp      bool
	menu          menu
	status        string // outcome of the last action taken from the dashboard
	statusErr     bool   // status is an error
	lastEvent     string
	totOK         int
	totErr        int
	totFailed     int
}

// New returns a dashboard model for cfg, 80×24 until told the window size.
func New(cfg Config) Model {
	if cfg.Poll <= 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.Renderer == nil {
		cfg.Renderer = lipgloss.DefaultRenderer()
	}
	st := newStyles(cfg.Renderer)
	h := help.New()
	h.Styles.ShortKey = st.bold
	h.Styles.ShortDesc = st.dim
	h.Styles.ShortSeparator = st.dim
	h.Styles.FullKey = st.bold
	h.Styles.FullDesc = st.dim
	h.Styles.FullSeparator = st.dim
	h.Styles.Ellipsis = st.dim
	return Model{
		cfg:    cfg,
		st:     st,
		keys:   newKeyMap(),
		help:   h,
		spin:   spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		width:  80,
		height: 24,
	}
}

// Init starts listening to the feed and polling the control.
func (m Model) Init() tea.Cmd {
	return tea.Batch(listen(m.cfg.Feed), m.pollNow())
}

// listen waits for the next message on feed.
func listen(feed <-chan tea.Msg) tea.Cmd {
	if feed == nil {
		return nil
	}
	return func() tea.Msg {
		msg, ok := <-feed
		if !ok {
			return nil
		}
		return feedMsg{msg: msg}
	}
}

// live reports whether the run can still be driven.
func (m Model) live() bool {
	return m.cfg.Control != nil && m.result == nil && m.phase != phaseStopping
}

// pollNow reads the control's state off the update loop.
func (m Model) pollNow() tea.Cmd {
	c := m.cfg.Control
	if c == nil || m.result != nil {
		return nil
	}
	return func() tea.Msg {
		return NodesMsg{Nodes: c.Nodes(), AZs: c.AZs(), Paused: c.Paused(), Manual: c.Active()}
	}
}

// Update folds one message into the model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case feedMsg:
		next, cmd := m.Update(msg.msg)
		return next, tea.Batch(cmd, listen(m.cfg.Feed))
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil
	case tea.KeyMsg:
		return m.onKey(msg)
	case TickMsg:
		return m.onTick(loadgen.Tick(msg))
	case FaultMsg:
		m.onFault(msg)
		return m, nil
	case NodesMsg:
		m.nodes = msg.Nodes
		if len(msg.AZs) > 0 {
			m.azs = msg.AZs
		}
		m.paused = msg.Paused
		m.manual = msg.Manual
		m.markManual()
		if m.cfg.Control == nil || m.result != nil {
			return m, nil
		}
		return m, tea.Tick(m.cfg.Poll, func(time.Time) tea.Msg { return pollMsg{} })
	case pollMsg:
		return m, m.pollNow()
	case EventMsg:
		return m.onEvent(string(msg))
	case ControlMsg:
		m.status, m.statusErr = msg.Action, msg.Err != nil
		if msg.Err != nil {
			m.status = msg.Action + ": " + msg.Err.Error()
		}
		return m, nil
	case ResultMsg:
		return m.onResult(msg)
	case spinner.TickMsg:
		if !m.spinning {
			return m, nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) onTick(t loadgen.Tick) (tea.Model, tea.Cmd) {
	m.ticks = append(m.ticks, t)
	if len(m.ticks) > maxTicks {
		m.ticks = append([]loadgen.Tick(nil), m.ticks[len(m.ticks)-maxTicks:]...)
	}
	m.totOK += t.OK
	m.totErr += t.Errors
	m.totFailed += t.Failed
	if m.phase == phaseLoad && m.cfg.Duration > 0 && t.T+time.Second >= m.cfg.Duration {
		m.phase = phaseFinishing
		return m, m.startSpinner()
	}
	return m, nil
}

func (m *Model) onFault(f FaultMsg) {
	r := f.Record
	if f.Injected {
		m.faults = append(m.faults, faultRow{kind: r.Kind, target: r.Target, start: r.Start, active: true, err: r.Err()})
		m.markManual()
		return
	}
	for i := len(m.faults) - 1; i >= 0; i-- {
		row := &m.faults[i]
		if row.active && row.kind == r.Kind && row.target == r.Target {
			row.active, row.end = false, r.End
			if r.Err() != "" {
				row.err = r.Err()
			}
			return
		}
	}
	// Healed without a recorded inject (e.g. an inject that failed).
	m.faults = append(m.faults, faultRow{kind: r.Kind, target: r.Target, start: r.Start, end: r.End, err: r.Err()})
}

// markManual flags active faults the control lists as manual.
func (m *Model) markManual() {
	for _, a := range m.manual {
		for i := range m.faults {
			if m.faults[i].active && m.faults[i].kind == a.Kind && m.faults[i].target == a.Target {
				m.faults[i].manual = true
			}
		}
	}
}

func (m Model) onEvent(line string) (tea.Model, tea.Cmd) {
	line = strings.TrimSpace(line)
	if line == "" {
		return m, nil
	}
	if !strings.HasPrefix(line, "fault ") { // faults have their own panel
		m.lastEvent = line
	}
	if strings.HasPrefix(line, "drain:") && (m.phase == phaseLoad || m.phase == phaseFinishing) {
		m.phase = phaseChecking
		return m, m.startSpinner()
	}
	return m, nil
}

func (m Model) onResult(r ResultMsg) (tea.Model, tea.Cmd) {
	stopping := m.phase == phaseStopping
	m.result, m.resultErr = r.Report, r.Err
	if m.result == nil {
		m.result = &report.Report{Verdict: report.VerdictFail}
		if r.Err != nil {
			m.result.Error = r.Err.Error()
		}
	}
	m.phase = phaseDone
	m.spinning = false
	m.menu = menu{}
	m.applyReportFaults()
	if stopping || !m.cfg.Hold || m.result.Interrupted {
		return m, tea.Quit
	}
	return m, nil
}

// applyReportFaults copies each fault's RTO (and manual flag) from the report.
func (m *Model) applyReportFaults() {
	used := make([]bool, len(m.faults))
	for _, f := range m.result.Faults {
		for i := range m.faults {
			row := &m.faults[i]
			if used[i] || row.kind != f.Kind || row.target != f.Target || math.Abs(row.start.Seconds()-f.StartS) > 1 {
				continue
			}
			used[i] = true
			row.manual = row.manual || f.Manual
			if row.end == 0 && f.EndS > 0 {
				row.end, row.active = time.Duration(f.EndS*float64(time.Second)), false
			}
			if !f.Manual && f.EndS > 0 {
				row.rto, row.hasRTO = f.RTOS, true
			}
			break
		}
	}
}

func (m *Model) startSpinner() tea.Cmd {
	if m.spinning {
		return nil
	}
	m.spinning = true
	return m.spin.Tick
}

func (m Model) onKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.showHelp = !m.showHelp
		m.menu = menu{}
		return m, nil
	}
	if m.menu.open {
		return m.menuKey(k)
	}
	switch {
	case key.Matches(k, m.keys.Back):
		m.showHelp = false
	case key.Matches(k, m.keys.Pause):
		if !m.live() {
			return m, nil
		}
		m.paused = !m.paused
		return m, m.pauseCmd(m.paused)
	case key.Matches(k, m.keys.Fault):
		if !m.live() {
			m.status = "faults: the run is no longer live"
			return m, nil
		}
		m.showHelp = false
		m.menu = menu{open: true}
	}
	return m, nil
}

// quit stops the run, or leaves once the result is in.
func (m Model) quit() (tea.Model, tea.Cmd) {
	if m.phase == phaseDone {
		return m, tea.Quit
	}
	if m.phase == phaseStopping {
		return m, nil
	}
	m.phase = phaseStopping
	m.menu = menu{}
	m.status = "stopping: healing faults, tearing down, writing a partial report…"
	if m.cfg.Cancel != nil {
		m.cfg.Cancel()
	}
	return m, m.startSpinner()
}

func (m Model) pauseCmd(paused bool) tea.Cmd {
	c := m.cfg.Control
	return func() tea.Msg {
		c.Pause(paused)
		if paused {
			return ControlMsg{Action: "load paused"}
		}
		return ControlMsg{Action: "load resumed"}
	}
}

// injectCmd injects f off the update loop: an inject can take seconds.
func (m Model) injectCmd(f chaos.Fault) tea.Cmd {
	c := m.cfg.Control
	return func() tea.Msg {
		what := fmt.Sprintf("inject %s on %s", f.Name(), f.Target())
		return ControlMsg{Action: what, Err: c.Inject(f)}
	}
}

func (m Model) healCmd(kind, target string) tea.Cmd {
	c := m.cfg.Control
	return func() tea.Msg {
		what := fmt.Sprintf("heal %s on %s", kind, target)
		return ControlMsg{Action: what, Err: c.Heal(kind, target)}
	}
}
