package sim

import (
	"strings"
	"time"
)

// LogIndexPattern matches every index the log shipper writes.
const LogIndexPattern = "paysim-logs-*"

// LogIndexSpan is how much time one log index covers. The shipper names an
// index for the five minutes in which it indexes a line (as Logstash's
// time-based index names do), so that whole indices can be archived and
// dropped once no line can reach them any more: the search tier then holds
// a bounded window of logs however long a run is.
const LogIndexSpan = 5 * time.Minute

const logIndexPrefix, logIndexLayout = "paysim-logs-", "2006.01.02-15.04"

// LogIndex is the index a line shipped at t goes to.
func LogIndex(t time.Time) string {
	return logIndexPrefix + t.UTC().Truncate(LogIndexSpan).Format(logIndexLayout)
}

// LogIndexEnd is when the span of the log index name ends; ok is false for
// a name LogIndex did not make.
func LogIndexEnd(name string) (end time.Time, ok bool) {
	rest, found := strings.CutPrefix(name, logIndexPrefix)
	if !found {
		return time.Time{}, false
	}
	t, err := time.Parse(logIndexLayout, rest)
	if err != nil || t.Truncate(LogIndexSpan) != t {
		return time.Time{}, false
	}
	return t.Add(LogIndexSpan), true
}
