//go:build !unix

package hoststat

import "time"

// processCPU is unknown off Unix: 0.
func processCPU() time.Duration { return 0 }
