package capacity

import (
	"context"
	"testing"
	"time"
)

func TestMeasureReference(t *testing.T) {
	ref, err := MeasureReference(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ReqPerS < 500 || ref.CPUMSPerReq <= 0 || ref.CPUMSPerReq > 10 {
		t.Fatalf("reference %+v: a no-op handler on loopback should do hundreds of requests a second at well under 10 CPU-ms each", ref)
	}
	t.Logf("reference: %.0f req/s, %.4f CPU-ms/req", ref.ReqPerS, ref.CPUMSPerReq)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MeasureReference(ctx, time.Second); err == nil {
		t.Fatal("a cancelled reference returned no error")
	}
}
