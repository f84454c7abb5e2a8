package embedded

import (
	"sync"
	"time"
)

// failover is a control plane's timer: armed when a primary becomes
// unhealthy, cancelled if it recovers in time, firing promote otherwise.
type failover struct {
	mu      sync.Mutex
	after   time.Duration
	timer   *time.Timer
	promote func()
}

// watch arms or cancels the timer for the primary's current health.
func (f *failover) watch(primaryHealthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !primaryHealthy && f.timer == nil:
		f.timer = time.AfterFunc(f.after, func() {
			f.mu.Lock()
			f.timer = nil
			f.mu.Unlock()
			f.promote()
		})
	case primaryHealthy && f.timer != nil:
		f.timer.Stop()
		f.timer = nil
	}
}

func (f *failover) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}
