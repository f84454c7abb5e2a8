package check

import (
	"paysim/loadgen"
)

// WithoutLost drops the acknowledgements of writes the ledger does not hold:
// after a region loss they are the RPO, counted by Durability, and the
// downstream checks judge what the promoted ledger holds.
func WithoutLost(h []loadgen.Event, l Ledger) []loadgen.Event {
	out := make([]loadgen.Event, 0, len(h))
	for _, e := range h {
		if e.Type == loadgen.EventOK && e.Op != loadgen.OpBalance && e.Key != "" {
			if !l.Payments.Has(ackedID(e)) {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}
