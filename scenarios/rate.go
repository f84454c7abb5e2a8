package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ParseRate reads "300", "300/s", "12000/m" or "5/h" as a rate.
func ParseRate(s string) (vegeta.Rate, error) {
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return vegeta.Rate{}, fmt.Errorf("rate %q: want N, N/s, N/m or N/h", s)
	}
	if n <= 0 {
		return vegeta.Rate{}, fmt.Errorf("rate %q: must be positive", s)
	}
	per := time.Second
	if hasUnit {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return vegeta.Rate{}, fmt.Errorf("rate %q: unknown unit %q (want s, m or h)", s, unit)
		}
	}
	return vegeta.Rate{Freq: n, Per: per}, nil
}
