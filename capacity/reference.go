package capacity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/internal/hoststat"
)

// Reference is this machine's no-op HTTP figure, measured with the load
// generator the steps use (vegeta) against a handler that does nothing, on
// loopback, in this process: what every capacity figure is also given
// against, so results compare across machines.
type Reference struct {
	ReqPerS float64 `json:"req_per_s"`
	// CPUMSPerReq is this process's CPU (server and load generator
	// together) per request, the unit CPU per payment is a multiple of.
	CPUMSPerReq float64 `json:"cpu_ms_per_req"`
	DurationS   float64 `json:"duration_s"`
	Workers     int     `json:"workers"`
	Method      string  `json:"method"`
}

// referenceWorkers is the closed-loop concurrency of the reference, as
// wrk -c64 in scripts/reference.sh.
const referenceWorkers = 64

// MeasureReference runs the reference for d.
func MeasureReference(ctx context.Context, d time.Duration) (Reference, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Reference{}, fmt.Errorf("reference: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		<-served
	}()

	atk := vegeta.NewAttacker(vegeta.Workers(referenceWorkers), vegeta.MaxWorkers(referenceWorkers),
		vegeta.Connections(referenceWorkers), vegeta.KeepAlive(true))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: "http://" + ln.Addr().String() + "/"})
	span := hoststat.Start()
	n := 0
	res := atk.Attack(tr, vegeta.ConstantPacer{}, d, "reference") // Freq 0: as fast as the workers go
	done := ctx.Done()
	for r := range res {
		if r.Code == http.StatusOK {
			n++
		}
		select {
		case <-done:
			atk.Stop()
			done = nil
		default:
		}
	}
	st := span.Stop()
	if err := ctx.Err(); err != nil {
		return Reference{}, fmt.Errorf("reference: %w", err)
	}
	if n == 0 {
		return Reference{}, errors.New("reference: no request succeeded")
	}
	return Reference{
		ReqPerS: float64(n) / st.Wall.Seconds(), CPUMSPerReq: float64(st.ProcessCPU) / float64(time.Millisecond) / float64(n),
		DurationS: st.Wall.Seconds(), Workers: referenceWorkers,
		Method: fmt.Sprintf("vegeta, %d workers as fast as they go, against a no-op net/http handler on loopback in this process, for %v", referenceWorkers, d),
	}, nil
}
