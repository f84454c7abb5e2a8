package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the dashboard answers to.
type keyMap struct {
	Quit, Help, Pause, Fault key.Binding
	Up, Down, Enter, Back    key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Quit:  key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit (stops the run: heal, tear down, partial report)")),
		Help:  key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Pause: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume load")),
		Fault: key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "inject/heal a fault")),
		Up:    key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:  key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Enter: key.NewBinding(key.WithKeys("enter", " "), key.WithHelp("enter", "choose")),
		Back:  key.NewBinding(key.WithKeys("esc", "backspace", "left", "h"), key.WithHelp("esc", "back/close")),
	}
}

// ShortHelp is the footer's key list.
func (k keyMap) ShortHelp() []key.Binding {
	q, p, f := k.Quit, k.Pause, k.Fault
	q.SetHelp("q", "quit")
	p.SetHelp("p", "pause")
	f.SetHelp("f", "fault")
	return []key.Binding{q, p, f, k.Help}
}

// FullHelp is the help panel's key list.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Quit, k.Pause, k.Fault, k.Help}, {k.Up, k.Down, k.Enter, k.Back}}
}
