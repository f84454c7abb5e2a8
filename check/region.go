package check

import (
	"fmt"

	"paysim/loadgen"
	"paysim/report"
)

// RegionDurability judges durability after a region loss. Acknowledged
// payments the asynchronous DR copy never received are the RPO: allowed up
// to allowedRPO, and returned as lost. An acknowledged payment the promoted
// ledger holds with another amount or status is a violation whatever the RPO.
func RegionDurability(h []loadgen.Event, l Ledger, allowedRPO int) (report.Invariant, int) {
	r, lost := durability(h, l, false)
	if lost > allowedRPO {
		r.violate("%d acknowledged payments lost with the primary region, rpo allows %d", lost, allowedRPO)
	}
	changed := r.violations
	if lost > allowedRPO {
		changed--
	}
	r.need(r.checked, 1, "acknowledged writes")
	return r.done(
		fmt.Sprintf("%d acknowledged payments lost with the primary region (asynchronous DR copy; rpo allows %d); the other %d present as acknowledged", lost, allowedRPO, r.checked-lost),
		fmt.Sprintf("%d acknowledged payments lost with the primary region (rpo allows %d); %d stored with another amount or status", lost, allowedRPO, changed)), lost
}

// WithoutLost drops the acknowledgements of writes the ledger does not hold:
// after a region loss they are the RPO, counted by Durability, and the
// downstream checks judge what the promoted ledger holds.
func WithoutLost(h []loadgen.Event, l Ledger) []loadgen.Event {
	out := make([]loadgen.Event, 0, len(h))
	for _, e := range h {
		if e.Type == loadgen.EventOK && e.Op != loadgen.OpBalance && e.Key != "" {
			if !l.Payments.Has(ackedID(e, l)) {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}
