package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Label keys paysim puts on every container and network it creates. The run
// label is the one cleanup relies on: everything carrying it belongs to paysim.
const (
	LabelRun     = "paysim.run"     // the run id, on every container and network
	LabelAZ      = "paysim.az"      // the node's Availability Zone
	LabelService = "paysim.service" // mysql, redis, kafka, elasticsearch, app
	LabelRole    = "paysim.role"    // primary, replica, sentinel, broker, member
	LabelNode    = "paysim.node"    // the node's id in the stack (sim.NodeStatus.ID)
)

// runIDPattern is what a run id may look like: it becomes part of container
// and network names, so Docker's name rules apply, and it stays short.
var runIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidRunID reports whether id can name a run.
func ValidRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("run id %q: want 1-40 of [a-z0-9-], starting with a letter or digit", id)
	}
	return nil
}

// NewRunID returns a fresh run id: the start time to the second, then six
// random hex digits, e.g. "20261202-153012-a1b2c3".
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Labels identifies one container (or, with only Run set, a network) of a run.
type Labels struct {
	Run     string
	AZ      string
	Service string
	Role    string
	Node    string
}

// Map returns the Docker labels: Run always, the others where set. It fails
// without a valid run id, so that nothing is ever created that cleanup by
// label would miss.
func (l Labels) Map() (map[string]string, error) {
	if l.Run == "" {
		return nil, errors.New("labels: no run id")
	}
	if err := ValidRunID(l.Run); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	m := map[string]string{LabelRun: l.Run}
	for k, v := range map[string]string{LabelAZ: l.AZ, LabelService: l.Service, LabelRole: l.Role, LabelNode: l.Node} {
		if v != "" {
			m[k] = v
		}
	}
	return m, nil
}

// RunFilter is the Docker label filter value selecting one run's resources,
// or every paysim resource when run is empty.
func RunFilter(run string) string {
	if run == "" {
		return LabelRun
	}
	return LabelRun + "=" + run
}
