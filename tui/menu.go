package tui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"paysim/chaos"
)

// menu is the two-step fault menu: pick an action, then its target.
type menu struct {
	open   bool
	action int // chosen action, valid when target is true
	target bool
	cursor int
}

// menuAction is one line of the menu's first step.
type menuAction struct {
	label string
	make  func(target string) chaos.Fault // nil for heal
}

// manual-fault latency, as the issue sets it.
const (
	manualDelayMS  = 200
	manualJitterMS = 50
)

func menuActions() []menuAction {
	return []menuAction{
		{"az-outage: power loss of an AZ", func(t string) chaos.Fault { return chaos.AZPower{AZ: t} }},
		{"node-kill: kill one node", func(t string) chaos.Fault { return chaos.NodeKill{Node: t} }},
		{"node-pause: node answers nothing", func(t string) chaos.Fault { return chaos.NodePause{Node: t} }},
		{fmt.Sprintf("latency: %dms ±%dms on a node", manualDelayMS, manualJitterMS), func(t string) chaos.Fault {
			return chaos.Latency{Node: t, Delay: manualDelayMS, Jitter: manualJitterMS}
		}},
		{"heal a manual fault", nil},
	}
}

// healAction is the index of "heal" in menuActions.
const healAction = 4

// menuItems are the lines of the menu's current step.
func (m Model) menuItems() []string {
	acts := menuActions()
	if !m.menu.target {
		out := make([]string, len(acts))
		for i, a := range acts {
			out[i] = a.label
		}
		out[healAction] = fmt.Sprintf("%s (%d active)", acts[healAction].label, len(m.manual))
		return out
	}
	return m.targets(m.menu.action)
}

// targets are what action can hit: AZs, nodes, or active manual faults.
func (m Model) targets(action int) []string {
	switch action {
	case 0:
		return m.azList()
	case healAction:
		out := make([]string, len(m.manual))
		for i, r := range m.manual {
			out[i] = r.Kind + " " + r.Target
		}
		return out
	default:
		out := make([]string, len(m.nodes))
		for i, n := range m.nodes {
			out[i] = n.ID
		}
		return out
	}
}

func (m Model) menuKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	items := m.menuItems()
	switch {
	case key.Matches(k, m.keys.Up):
		if m.menu.cursor > 0 {
			m.menu.cursor--
		}
	case key.Matches(k, m.keys.Down):
		if m.menu.cursor < len(items)-1 {
			m.menu.cursor++
		}
	case key.Matches(k, m.keys.Back):
		if m.menu.target {
			m.menu = menu{open: true, cursor: m.menu.action}
		} else {
			m.menu = menu{}
		}
	case key.Matches(k, m.keys.Fault):
		m.menu = menu{}
	case key.Matches(k, m.keys.Enter):
		if len(items) == 0 {
			return m, nil
		}
		if !m.menu.target {
			m.menu = menu{open: true, target: true, action: m.menu.cursor}
			return m, nil
		}
		return m.menuChoose(m.menu.cursor)
	}
	return m, nil
}

// menuChoose runs the chosen action on target i and closes the menu.
func (m Model) menuChoose(i int) (tea.Model, tea.Cmd) {
	act := m.menu.action
	m.menu = menu{}
	if !m.live() {
		m.status = "faults: the run is no longer live"
		return m, nil
	}
	if act == healAction {
		if i >= len(m.manual) {
			return m, nil
		}
		r := m.manual[i]
		m.status = fmt.Sprintf("healing %s on %s…", r.Kind, r.Target)
		return m, m.healCmd(r.Kind, r.Target)
	}
	targets := m.targets(act)
	if i >= len(targets) {
		return m, nil
	}
	f := menuActions()[act].make(targets[i])
	m.status = fmt.Sprintf("injecting %s on %s…", f.Name(), f.Target())
	return m, m.injectCmd(f)
}

// menuView is the menu's lines, scrolled to keep the cursor in rows.
func (m Model) menuView(rows int) (title string, lines []string) {
	items := m.menuItems()
	title = "Fault: choose an action"
	if m.menu.target {
		title = "Fault: " + menuActions()[m.menu.action].label
		if m.menu.action == healAction {
			title = "Heal: choose a manual fault"
		}
	}
	body := rows - 1 // last line is the hint
	if body < 1 {
		body = 1
	}
	first := 0
	if m.menu.cursor >= body {
		first = m.menu.cursor - body + 1
	}
	for i := first; i < len(items) && i < first+body; i++ {
		prefix := "  "
		l := items[i]
		if i == m.menu.cursor {
			prefix = "▸ "
			l = m.st.bold.Render(l)
		}
		lines = append(lines, prefix+l)
	}
	if len(items) == 0 {
		lines = append(lines, m.st.dim.Render("  (none)"))
	}
	for len(lines) < body {
		lines = append(lines, "")
	}
	lines = append(lines, m.st.dim.Render(fmt.Sprintf("↑/↓ move · enter choose · esc back · %d/%d", min(m.menu.cursor+1, len(items)), len(items))))
	return title, lines
}
