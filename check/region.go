package check

import (
	"paysim/loadgen"
	"paysim/sim/payments"
)

// WithoutLost drops the acknowledgements of writes the ledger does not hold:
// after a region loss they are the RPO, counted by Durability, and the
// downstream checks judge what the promoted ledger holds.
func WithoutLost(h []loadgen.Event, l Ledger) []loadgen.Event {
	out := make([]loadgen.Event, 0, len(h))
	for _, e := range h {
		if e.Type == loadgen.EventOK && e.Op != loadgen.OpBalance && e.Key != "" {
			if _, ok := l.Payments[ackedID(e)]; !ok {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// InLedger keeps the events of payments the ledger holds: after a region
// loss the topic still carries events of payments the DR copy never got.
func InLedger(evs []payments.Event, l Ledger) []payments.Event {
	out := make([]payments.Event, 0, len(evs))
	for _, ev := range evs {
		if _, ok := l.Payments[ev.PaymentID]; ok {
			out = append(out, ev)
		}
	}
	return out
}
