package capacity

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Tiers a CPU sample is charged to, by the first frame from the leaf up
// that belongs to a known package.
const (
	TierLedger  = "ledger (MySQL wire, SQLite, driver)"
	TierRedis   = "redis (server and client)"
	TierKafka   = "kafka (broker and clients)"
	TierSearch  = "search (index, queries, shipping)"
	TierProxies = "network (LB, AZ proxies)"
	TierApp     = "app (payment handlers)"
	TierLoadgen = "load generator"
	TierHTTP    = "HTTP serving (shared)"
	TierGC      = "GC (background)"
	TierOther   = "runtime and other"
)

// tierOf maps a package path prefix to its tier, longest first.
var tierPrefixes = []struct{ prefix, tier string }{
	{"paysim/sim/embedded/mysqlwire", TierLedger}, {"modernc.org/", TierLedger}, {"github.com/go-mysql-org/", TierLedger},
	{"github.com/go-sql-driver/", TierLedger}, {"database/sql", TierLedger},
	{"paysim/sim/embedded/redisnode", TierRedis}, {"github.com/alicebob/miniredis", TierRedis}, {"github.com/redis/go-redis", TierRedis},
	{"github.com/yuin/gopher-lua", TierRedis},
	{"paysim/sim/kafkanode", TierKafka}, {"github.com/twmb/franz-go", TierKafka},
	{"paysim/sim/embedded/search", TierSearch}, {"paysim/sim/searchnode", TierSearch}, {"github.com/blevesearch", TierSearch},
	{"github.com/elastic/", TierSearch}, {"github.com/RoaringBitmap", TierSearch}, {"paysim/check", TierSearch},
	{"paysim/sim/netproxy", TierProxies}, {"paysim/sim/lb", TierProxies}, {"github.com/Shopify/toxiproxy", TierProxies},
	{"paysim/sim/payments", TierApp}, {"paysim/sim/appnode", TierApp}, {"github.com/prometheus/", TierApp},
	{"paysim/loadgen", TierLoadgen}, {"github.com/tsenart/vegeta", TierLoadgen}, {"github.com/HdrHistogram", TierLoadgen},
}

// Limit is where the capacity gives out, from the knee step's evidence.
type Limit struct {
	Tier     string `json:"tier"`
	Sentence string `json:"sentence"`
	// StepRate is the step the evidence comes from: the lowest rate not
	// sustained with every AZ.
	StepRate    float64 `json:"step_rate"`
	HostCPUBusy float64 `json:"host_cpu_busy"`
	// CPUShares is paysim's CPU by tier in that step (sums to 1).
	CPUShares []Share `json:"cpu_shares,omitempty"`
}

// Share is one tier's part of the CPU.
type Share struct {
	Tier  string  `json:"tier"`
	Share float64 `json:"share"`
}

// TierShares reads a CPU profile and charges every sample to a tier.
func TierShares(path string) ([]Share, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("limit: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("limit: %s: %w", path, err)
	}
	vi := len(p.SampleType) - 1 // cpu nanoseconds
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		by[tierOfSample(s)] += v
		total += v
	}
	if total == 0 {
		return nil, fmt.Errorf("limit: %s holds no samples", path)
	}
	out := make([]Share, 0, len(by))
	for t, v := range by {
		out = append(out, Share{Tier: t, Share: float64(v) / float64(total)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Share > out[j].Share })
	return out, nil
}

// tierOfSample walks the stack from the leaf up to the first frame of a
// known package; a stack with none is HTTP serving when net/http runs it,
// background GC, or other.
func tierOfSample(s *profile.Sample) string {
	sawHTTP, sawGC := false, false
	for _, loc := range s.Location {
		for i := len(loc.Line) - 1; i >= 0; i-- { // inlined frames first
			fn := loc.Line[i].Function
			if fn == nil {
				continue
			}
			pkg := packageOf(fn.Name)
			for _, tp := range tierPrefixes {
				if strings.HasPrefix(pkg, tp.prefix) {
					return tp.tier
				}
			}
			sawHTTP = sawHTTP || pkg == "net/http"
			sawGC = sawGC || strings.HasPrefix(fn.Name, "runtime.gcBgMarkWorker") || strings.HasPrefix(fn.Name, "runtime.bgsweep") || strings.HasPrefix(fn.Name, "runtime.bgscavenge")
		}
	}
	switch {
	case sawHTTP:
		return TierHTTP
	case sawGC:
		return TierGC
	}
	return TierOther
}

// packageOf is the import path of a function symbol such as
// "github.com/x/y.(*T).M" or "net/http.(*conn).serve".
func packageOf(fn string) string {
	slash := strings.LastIndex(fn, "/")
	dot := strings.Index(fn[slash+1:], ".")
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

// limitOf states where the limit is from the knee step: on a host whose
// cores were saturated, CPU is the limit and the tier taking most of it
// gives out first; otherwise the step missed its objectives with CPU to
// spare, and what it missed is the limit.
func limitOf(knee *Step, shares []Share) Limit {
	l := Limit{StepRate: knee.Rate, HostCPUBusy: knee.HostCPUBusy, CPUShares: shares}
	top := Share{Tier: TierOther}
	for _, s := range shares {
		if s.Tier != TierGC && s.Tier != TierOther && s.Tier != TierLoadgen {
			top = s
			break
		}
	}
	l.Tier = top.Tier
	var fig []string
	for _, s := range shares {
		fig = append(fig, fmt.Sprintf("%s %.0f%%", s.Tier, 100*s.Share))
	}
	figures := strings.Join(fig, ", ")
	if figures == "" {
		figures = "no profile"
	}
	if knee.HostCPUBusy >= 0.85 {
		l.Sentence = fmt.Sprintf("At %.0f/s (the lowest rate not sustained: %s) the host's cores were %.0f%% busy: CPU is the limit, and the tier that takes the most of it, the %s (%.0f%% of paysim's CPU), gives out first. CPU by tier: %s.",
			knee.Rate, knee.Why, 100*knee.HostCPUBusy, top.Tier, 100*top.Share, figures)
	} else {
		l.Sentence = fmt.Sprintf("At %.0f/s (the lowest rate not sustained: %s) the host's cores were only %.0f%% busy: the limit is not CPU but latency in the request path; the tier with the most CPU was the %s (%.0f%%). CPU by tier: %s.",
			knee.Rate, knee.Why, 100*knee.HostCPUBusy, top.Tier, 100*top.Share, figures)
	}
	return l
}
