package scenarios

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// The scenarios.yaml shape. These types mirror the file only; Decode turns
// them into Scenario values.
type (
	fileDoc struct {
		Version   int            `yaml:"version"`
		Defaults  fileDefaults   `yaml:"defaults"`
		Scenarios []fileScenario `yaml:"scenarios"`
	}
	fileDefaults struct {
		Mode     string        `yaml:"mode"`
		Seed     *int64        `yaml:"seed"`
		Topology *fileTopology `yaml:"topology"`
		Accounts *fileAccounts `yaml:"accounts"`
		Load     *fileLoad     `yaml:"load"`
		SLOs     *fileSLOs     `yaml:"slos"`
		// Images: service -> image reference (containers mode).
		Images map[string]string `yaml:"images"`
	}
	fileTopology struct {
		Region string   `yaml:"region"`
		AZs    []string `yaml:"azs"`
		App    *struct {
			InstancesPerAZ *int `yaml:"instances_per_az"`
		} `yaml:"app"`
		MySQL *struct {
			Engine        string `yaml:"engine"`
			FailoverAfter string `yaml:"failover_after"`
		} `yaml:"mysql"`
		Redis *struct {
			FailoverAfter  string `yaml:"failover_after"`
			ReplicationLag string `yaml:"replication_lag"`
		} `yaml:"redis"`
		Kafka *struct {
			Partitions        *int `yaml:"partitions"`
			ReplicationFactor *int `yaml:"replication_factor"`
			MinInsyncReplicas *int `yaml:"min_insync_replicas"`
		} `yaml:"kafka"`
		DR *struct {
			Region         string `yaml:"region"`
			ReplicationLag string `yaml:"replication_lag"`
			PromoteAfter   string `yaml:"promote_after"`
		} `yaml:"dr"`
	}
	fileAccounts struct {
		Users          *int   `yaml:"users"`
		Merchants      *int   `yaml:"merchants"`
		InitialBalance *int64 `yaml:"initial_balance"`
	}
	fileLoad struct {
		Rate         string             `yaml:"rate"`
		Profile      *fileProfile       `yaml:"profile"`
		Duration     string             `yaml:"duration"`
		Mix          map[string]float64 `yaml:"mix"`
		DoubleRefund string             `yaml:"double_refund"`
		MerchantSkew float64            `yaml:"merchant_skew"`
		Arrivals     string             `yaml:"arrivals"` // even (default) or poisson
	}
	fileProfile struct {
		Kind  string `yaml:"kind"`  // ramp|step|spike
		From  string `yaml:"from"`  // ramp, step, spike: the starting (base) rate
		To    string `yaml:"to"`    // ramp: the final rate; spike: the peak; step: the cap
		Over  string `yaml:"over"`  // ramp: how long the rise takes
		Step  string `yaml:"step"`  // step: added every `every`
		Every string `yaml:"every"` // step
		At    string `yaml:"at"`    // spike: when the rise begins
		Rise  string `yaml:"rise"`  // spike
		Hold  string `yaml:"hold"`  // spike
		Decay string `yaml:"decay"` // spike
	}
	fileFault struct {
		Kind      string `yaml:"kind"`
		Target    string `yaml:"target"`
		Variant   string `yaml:"variant"`
		At        string `yaml:"at"`
		For       string `yaml:"for"`
		Latency   string `yaml:"latency"`
		Jitter    string `yaml:"jitter"`
		Lag       string `yaml:"lag"`
		Loss      string `yaml:"loss"`
		Bandwidth string `yaml:"bandwidth"`
		Count     int    `yaml:"count"`
		Failpoint string `yaml:"failpoint"`
		Term      string `yaml:"term"`
	}
	fileNemesis struct {
		Kinds         []string `yaml:"kinds"`
		Every         string   `yaml:"every"` // "10s-20s" or "15s"
		For           string   `yaml:"for"`
		MaxConcurrent int      `yaml:"max_concurrent"`
		Quiet         string   `yaml:"quiet"`
	}
	fileSLOs struct {
		Availability string `yaml:"availability"`
		OKRatio      string `yaml:"ok_ratio"`
		P99          string `yaml:"p99"`
		RTO          string `yaml:"rto"`
		RPO          *int   `yaml:"rpo"`
	}
	fileStop struct {
		ErrorRate string `yaml:"error_rate"`
		For       string `yaml:"for"`
	}
	fileScenario struct {
		Name        string            `yaml:"name"`
		Description string            `yaml:"description"`
		Mode        string            `yaml:"mode"`
		Seed        *int64            `yaml:"seed"`
		Topology    *fileTopology     `yaml:"topology"`
		Accounts    *fileAccounts     `yaml:"accounts"`
		Load        *fileLoad         `yaml:"load"`
		Faults      []fileFault       `yaml:"faults"`
		Nemesis     *fileNemesis      `yaml:"nemesis"`
		SLOs        *fileSLOs         `yaml:"slos"`
		Stop        *fileStop         `yaml:"stop"`
		Failpoints  map[string]string `yaml:"failpoints"`
		Scalable    bool              `yaml:"scalable"` // --scale multiplies its rates
		CI          *fileCI           `yaml:"ci"`
	}
	fileCI struct {
		Duration string  `yaml:"duration"`
		Rate     string  `yaml:"rate"`
		Scale    float64 `yaml:"scale"`
		Skip     string  `yaml:"skip"`
	}
)

// knownFields are every field name the file may use, for suggestions.
func knownFields() []string {
	return []string{
		"version", "defaults", "scenarios", "mode", "seed", "topology", "accounts", "load", "slos",
		"region", "azs", "app", "instances_per_az", "mysql", "engine", "failover_after", "redis", "replication_lag",
		"kafka", "partitions", "replication_factor", "min_insync_replicas", "users", "merchants", "initial_balance",
		"rate", "profile", "duration", "mix", "double_refund", "merchant_skew", "arrivals", "kind", "from", "to", "over", "step",
		"every", "at", "rise", "hold", "decay", "target", "variant", "for", "latency", "jitter", "lag", "loss", "bandwidth",
		"count", "failpoint", "term", "kinds", "max_concurrent", "quiet", "availability", "ok_ratio", "p99", "rto", "rpo",
		"error_rate", "dr", "promote_after", "name", "description", "faults", "nemesis", "stop", "failpoints", "scalable", "ci", "skip", "scale",
	}
}

// FileError is one problem in a scenarios file.
type FileError struct {
	File      string
	Line, Col int
	Path      string // e.g. scenarios[2].faults[0].target
	Msg       string
}

func (e FileError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Path, e.Msg)
}

// FileErrors are every problem found in a file, in file order.
type FileErrors []FileError

func (es FileErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Catalogue is a decoded scenarios file.
type Catalogue struct {
	File      string
	Scenarios []Scenario // the first is the default
	// CI holds each scenario's shortened form for CI, by name.
	CI map[string]CIRun
}

// CIRun is how CI runs a scenario: shorter, slower, or not at all.
type CIRun struct {
	Duration time.Duration `json:"duration,omitempty"`
	Rate     string        `json:"rate,omitempty"`
	Scale    float64       `json:"scale,omitempty"`
	Skip     string        `json:"skip,omitempty"` // why CI does not run it
}

// Decode reads a scenarios file strictly. Every error names
// FILE:LINE:COL and the field.
func Decode(file string, data []byte) (*Catalogue, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, FileErrors{tokenError(file, nil, err)}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, FileErrors{{File: file, Line: 1, Col: 1, Path: "$", Msg: "empty file: want version: 1 and scenarios"}}
	}
	var doc fileDoc
	if err := yaml.NodeToValue(f.Docs[0].Body, &doc, yaml.Strict()); err != nil {
		return nil, FileErrors{tokenError(file, f, err)}
	}
	d := &decoder{file: file, ast: f}
	cat := d.catalogue(doc)
	if len(d.errs) > 0 {
		d.errs = dedupe(d.errs)
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		})
		return nil, d.errs
	}
	return cat, nil
}

// dedupe drops repeated errors (defaults are checked once per scenario).
func dedupe(es FileErrors) FileErrors {
	seen := map[FileError]bool{}
	out := es[:0]
	for _, e := range es {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// tokenError turns a go-yaml error into a FileError at its token.
func tokenError(file string, f *ast.File, err error) FileError {
	fe := FileError{File: file, Line: 1, Col: 1, Path: "$", Msg: err.Error()}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return fe
	}
	fe.Msg = ye.GetMessage()
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		fe.Line, fe.Col = tk.Position.Line, tk.Position.Column
		if f != nil {
			if p, ok := pathOfToken(f, tk); ok {
				fe.Path = p
			}
		}
	}
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) {
		name := strings.Trim(strings.TrimPrefix(fe.Msg, "unknown field "), `"`)
		if s := suggest(name, knownFields()); s != "" {
			fe.Msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
	}
	var un *yaml.UnexpectedNodeTypeError
	if errors.As(err, &un) && strings.Contains(fe.Msg, "sequence is expected") {
		fe.Msg += " (write a list: [a, b] or one '- item' per line)"
	}
	return fe
}

// pathOfToken finds the field path of the node holding tk.
func pathOfToken(f *ast.File, tk *token.Token) (string, bool) {
	var found string
	var walk func(n ast.Node, path string) bool
	walk = func(n ast.Node, path string) bool {
		if n == nil {
			return false
		}
		switch v := n.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				if walk(mv, path) {
					return true
				}
			}
			return false
		case *ast.MappingValueNode:
			key := v.Key.String()
			p := key
			if path != "" {
				p = path + "." + key
			}
			if v.Key.GetToken() == tk || v.GetToken() == tk {
				found = p
				return true
			}
			return walk(v.Value, p)
		case *ast.SequenceNode:
			for i, it := range v.Values {
				if walk(it, fmt.Sprintf("%s[%d]", path, i)) {
					return true
				}
			}
			return false
		}
		if n.GetToken() == tk {
			found = path
			return true
		}
		return false
	}
	if len(f.Docs) == 0 || !walk(f.Docs[0].Body, "") {
		return "", false
	}
	return found, true
}

// suggest returns the known name closest to name, if close enough.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// maxDuration bounds a run's load.
const maxDuration = 24 * time.Hour

// decoder validates a decoded file and collects errors with positions.
type decoder struct {
	file string
	ast  *ast.File
	errs FileErrors
}

// errorf records a problem at path (the closest existing node if the field
// itself is absent).
func (d *decoder) errorf(path, format string, args ...any) {
	fe := FileError{File: d.file, Line: 1, Col: 1, Path: path, Msg: fmt.Sprintf(format, args...)}
	for p := path; p != ""; p = parentPath(p) {
		yp, err := yaml.PathString("$." + p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(d.ast)
		if err != nil || n == nil {
			continue
		}
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			fe.Line, fe.Col = tk.Position.Line, tk.Position.Column
			break
		}
	}
	d.errs = append(d.errs, fe)
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func (d *decoder) duration(path, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.errorf(path, "%q is not a duration (want e.g. 30s, 2m, 250ms)", s)
		return def
	}
	if v < 0 {
		d.errorf(path, "%q: must not be negative", s)
		return def
	}
	return v
}

// percent reads "99%", "99.9%" or a fraction like 0.99 into 0..1.
func (d *decoder) percent(path, s string) float64 {
	if s == "" {
		return 0
	}
	t := strings.TrimSpace(s)
	var v float64
	var err error
	if strings.HasSuffix(t, "%") {
		v, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
		v /= 100
	} else {
		v, err = strconv.ParseFloat(t, 64)
		if err == nil && v > 1 {
			d.errorf(path, "%q: write a percentage like %s%% (a bare number must be a fraction <= 1)", s, t)
			return 0
		}
	}
	if err != nil {
		d.errorf(path, "%q is not a percentage (want e.g. 99%% or 0.99)", s)
		return 0
	}
	if v < 0 || v > 1 {
		d.errorf(path, "%q: a percentage must be between 0%% and 100%%", s)
		return 0
	}
	return v
}

func (d *decoder) rate(path, s string) vegeta.Rate {
	r, err := ParseRate(s)
	if err != nil {
		d.errorf(path, "%v", err)
	}
	return r
}

// bandwidth reads "64KB/s", "1MB/s", "500B/s" or a number of bytes per second.
func (d *decoder) bandwidth(path, s string) int64 {
	if s == "" {
		return 0
	}
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "/S")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 {
		d.errorf(path, "%q: want a positive bandwidth like 64KB/s", s)
		return 0
	}
	return n * mult
}

// span reads "10s-20s" or "15s" into a range.
func (d *decoder) span(path, s string) (time.Duration, time.Duration) {
	if s == "" {
		return 0, 0
	}
	lo, hi, ok := strings.Cut(s, "-")
	a := d.duration(path, lo, 0)
	if !ok {
		return a, a
	}
	b := d.duration(path, hi, 0)
	if b < a {
		d.errorf(path, "%q: the range must go from low to high", s)
	}
	return a, b
}

func (d *decoder) catalogue(doc fileDoc) *Catalogue {
	if doc.Version != 1 {
		d.errorf("version", "unsupported version %d (this paysim reads version 1)", doc.Version)
	}
	if len(doc.Scenarios) == 0 {
		d.errorf("scenarios", "no scenarios")
	}
	baseTopo := d.topology("defaults.topology", sim.DefaultTopology(), doc.Defaults.Topology)
	imgs := d.images("defaults.images", doc.Defaults.Images)
	cat := &Catalogue{File: d.file, CI: map[string]CIRun{}}
	seen := map[string]int{}
	for i, fs := range doc.Scenarios {
		p := fmt.Sprintf("scenarios[%d]", i)
		if fs.Name == "" {
			d.errorf(p, "name: missing")
		} else if j, dup := seen[fs.Name]; dup {
			d.errorf(p+".name", "duplicate scenario name %q (also scenarios[%d])", fs.Name, j)
		}
		seen[fs.Name] = i
		sc := d.scenario(p, fs, doc.Defaults, baseTopo)
		sc.Images = imgs
		cat.Scenarios = append(cat.Scenarios, sc)
		if fs.CI != nil {
			cat.CI[fs.Name] = CIRun{Duration: d.duration(p+".ci.duration", fs.CI.Duration, 0), Rate: fs.CI.Rate, Scale: fs.CI.Scale, Skip: fs.CI.Skip}
			if fs.CI.Rate != "" {
				d.rate(p+".ci.rate", fs.CI.Rate)
			}
		}
	}
	return cat
}

// images decodes the image overrides, one error per bad entry.
func (d *decoder) images(path string, m map[string]string) sim.Images {
	if len(m) == 0 {
		return nil
	}
	out := sim.Images{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		one := sim.Images{sim.Service(k): m[k]}
		if err := one.Validate(); err != nil {
			d.errorf(path+"."+k, "%v", err)
			continue
		}
		out[sim.Service(k)] = m[k]
	}
	return out
}

func (d *decoder) topology(path string, t sim.Topology, ft *fileTopology) sim.Topology {
	if ft == nil {
		return t
	}
	if ft.Region != "" {
		t.Region = ft.Region
	}
	if ft.AZs != nil {
		t.AZs = ft.AZs
		seen := map[string]bool{}
		for i, az := range ft.AZs {
			if az == "" || seen[az] {
				d.errorf(fmt.Sprintf("%s.azs[%d]", path, i), "AZ %q is empty or repeated", az)
			}
			seen[az] = true
		}
	}
	if ft.App != nil && ft.App.InstancesPerAZ != nil {
		t.App.InstancesPerAZ = *ft.App.InstancesPerAZ
	}
	if m := ft.MySQL; m != nil {
		if m.Engine != "" && m.Engine != "mysql" {
			d.errorf(path+".mysql.engine", "engine %q is not available (want mysql; tidb needs containers mode, not built yet)", m.Engine)
		}
		t.MySQL.FailoverAfter = d.duration(path+".mysql.failover_after", m.FailoverAfter, t.MySQL.FailoverAfter)
	}
	if r := ft.Redis; r != nil {
		t.Redis.FailoverAfter = d.duration(path+".redis.failover_after", r.FailoverAfter, t.Redis.FailoverAfter)
		t.Redis.ReplicationLag = d.duration(path+".redis.replication_lag", r.ReplicationLag, t.Redis.ReplicationLag)
	}
	if k := ft.Kafka; k != nil {
		set := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		set(&t.Kafka.Partitions, k.Partitions)
		set(&t.Kafka.ReplicationFactor, k.ReplicationFactor)
		set(&t.Kafka.MinInsyncReplicas, k.MinInsyncReplicas)
	}
	if dr := ft.DR; dr != nil {
		t.DR = &sim.DRTopology{Region: dr.Region,
			ReplicationLag: d.duration(path+".dr.replication_lag", dr.ReplicationLag, time.Second),
			PromoteAfter:   d.duration(path+".dr.promote_after", dr.PromoteAfter, 5*time.Second)}
	}
	if err := t.Validate(); err != nil {
		d.errorf(path, "%v", err)
	}
	return t
}

func (d *decoder) accounts(path string, a payments.Accounts, fa *fileAccounts) payments.Accounts {
	if fa == nil {
		return a
	}
	if fa.Users != nil {
		a.Users = *fa.Users
	}
	if fa.Merchants != nil {
		a.Merchants = *fa.Merchants
	}
	if fa.InitialBalance != nil {
		a.InitialBalance = *fa.InitialBalance
	}
	if a.Users < 2 {
		d.errorf(path+".users", "want at least 2 users, got %d", a.Users)
	}
	if a.Merchants < 1 {
		d.errorf(path+".merchants", "want at least 1 merchant, got %d", a.Merchants)
	}
	if a.InitialBalance < 0 {
		d.errorf(path+".initial_balance", "must not be negative")
	}
	return a
}

func mixOps() []string { return []string{"payment", "topup", "transfer", "refund", "balance"} }

func (d *decoder) load(path string, l Load, fl *fileLoad) Load {
	if fl == nil {
		return l
	}
	if fl.Rate != "" && fl.Profile != nil {
		d.errorf(path+".profile", "give rate or profile, not both")
	}
	if fl.Rate != "" {
		l.Rate, l.Pacer = d.rate(path+".rate", fl.Rate), nil
	}
	l.Duration = d.duration(path+".duration", fl.Duration, l.Duration)
	if fl.Profile != nil {
		l.Pacer = d.profile(path+".profile", *fl.Profile)
		if l.Pacer != nil {
			l.Rate = vegeta.Rate{Freq: int(l.Pacer.Rate(0)), Per: time.Second}
		}
	}
	if fl.Mix != nil {
		var w loadgen.Weights
		total := 0.0
		for op, v := range fl.Mix {
			if v < 0 {
				d.errorf(path+".mix."+op, "weight %v: must not be negative", v)
			}
			total += v
			switch op {
			case "payment":
				w.Payment = v
			case "topup":
				w.Topup = v
			case "transfer":
				w.Transfer = v
			case "refund":
				w.Refund = v
			case "balance":
				w.Balance = v
			default:
				msg := fmt.Sprintf("unknown operation %q (have %s)", op, strings.Join(mixOps(), ", "))
				if s := suggest(op, mixOps()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				d.errorf(path+".mix."+op, "%s", msg)
			}
		}
		if total <= 0 {
			d.errorf(path+".mix", "the weights add up to %v: want a positive total", total)
		}
		if w.Refund > 0 && w.Payment == 0 {
			d.errorf(path+".mix.refund", "refunds need payments to refund: give payment a weight")
		}
		l.Mix = w
	}
	if fl.DoubleRefund != "" {
		l.DoubleRefund = d.percent(path+".double_refund", fl.DoubleRefund)
	}
	if fl.MerchantSkew != 0 {
		if fl.MerchantSkew <= 1 {
			d.errorf(path+".merchant_skew", "%v: a Zipf exponent must be > 1", fl.MerchantSkew)
		}
		l.MerchantSkew = fl.MerchantSkew
	}
	switch fl.Arrivals {
	case "":
	case report.ArrivalsEven:
		l.Poisson = false
	case report.ArrivalsPoisson:
		l.Poisson = true
		if _, err := l.arrivals(0); err != nil {
			d.errorf(path+".arrivals", "%v", err)
		}
	default:
		d.errorf(path+".arrivals", "unknown arrivals %q (want even or poisson)", fl.Arrivals)
	}
	if l.Duration <= 0 {
		d.errorf(path+".duration", "missing or zero: how long does the load run?")
	}
	if l.Duration > maxDuration {
		d.errorf(path+".duration", "%v: longer than %v", l.Duration, maxDuration)
		l.Duration = maxDuration
	}
	return l
}

// profile builds the pacer of a load profile.
func (d *decoder) profile(path string, p fileProfile) vegeta.Pacer {
	from := d.rate(path+".from", p.From)
	switch p.Kind {
	case "ramp":
		over := d.duration(path+".over", p.Over, 0)
		if over <= 0 {
			d.errorf(path+".over", "a ramp needs over: how long the rise takes")
		}
		return loadgen.SpikePacer{Base: from, Peak: d.rate(path+".to", p.To), Rise: over, Hold: 1000 * time.Hour}
	case "step":
		sp := loadgen.StepPacer{Start: from, Step: d.rate(path+".step", p.Step), Every: d.duration(path+".every", p.Every, 0)}
		if p.To != "" {
			sp.Max = d.rate(path+".to", p.To)
		}
		if sp.Every <= 0 {
			d.errorf(path+".every", "a step profile needs every: the length of a step")
		}
		return sp
	case "spike":
		return loadgen.SpikePacer{Base: from, Peak: d.rate(path+".to", p.To), At: d.duration(path+".at", p.At, 0),
			Rise: d.duration(path+".rise", p.Rise, 0), Hold: d.duration(path+".hold", p.Hold, 0), Decay: d.duration(path+".decay", p.Decay, 0)}
	}
	d.errorf(path+".kind", "unknown profile %q (want ramp, step or spike)", p.Kind)
	return nil
}

func (d *decoder) slos(path string, s SLOs, fs *fileSLOs) SLOs {
	if fs == nil {
		return s
	}
	if fs.Availability != "" {
		s.Availability = d.percent(path+".availability", fs.Availability)
	}
	if fs.OKRatio != "" {
		s.OKRatio = d.percent(path+".ok_ratio", fs.OKRatio)
	}
	s.P99 = d.duration(path+".p99", fs.P99, s.P99)
	s.RTO = d.duration(path+".rto", fs.RTO, s.RTO)
	if fs.RPO != nil {
		if *fs.RPO < 0 {
			d.errorf(path+".rpo", "must not be negative")
		}
		s.RPO = *fs.RPO
	}
	return s
}

// defaultScenario is what a scenario starts from before defaults and its own fields.
func defaultScenario() Scenario {
	return Scenario{
		Mode: "embedded", Seed: 1, Topology: sim.DefaultTopology(), Accounts: payments.DefaultAccounts(),
		Load: Load{
			Rate:     vegeta.Rate{Freq: 200, Per: time.Second},
			Duration: time.Minute,
			Mix:      loadgen.Weights{Payment: 70, Topup: 10, Transfer: 15, Refund: 5},
		},
		SLOs: SLOs{Availability: 0.99, OKRatio: 0.95, P99: 200 * time.Millisecond},
	}
}

func (d *decoder) scenario(p string, fs fileScenario, def fileDefaults, baseTopo sim.Topology) Scenario {
	sc := defaultScenario()
	sc.Name, sc.Description = fs.Name, fs.Description
	if sc.Description == "" {
		d.errorf(p+".name", "description: missing (say what the drill shows)")
	}
	sc.Mode = firstNonEmpty(fs.Mode, def.Mode, sc.Mode)
	modeAbilities, err := stack.Abilities(sc.Mode)
	if err != nil {
		d.errorf(p+".mode", "unknown mode %q (want embedded or containers)", sc.Mode)
	}
	if def.Seed != nil {
		sc.Seed = *def.Seed
	}
	if fs.Seed != nil {
		sc.Seed = *fs.Seed
	}
	sc.Topology = d.topology(p+".topology", baseTopo, fs.Topology)
	sc.Accounts = d.accounts("defaults.accounts", sc.Accounts, def.Accounts)
	sc.Accounts = d.accounts(p+".accounts", sc.Accounts, fs.Accounts)
	sc.Load = d.load("defaults.load", sc.Load, def.Load)
	if fs.Load == nil && def.Load == nil {
		d.errorf(p, "load: missing (rate and duration)")
	}
	sc.Load = d.load(p+".load", sc.Load, fs.Load)
	sc.SLOs = d.slos("defaults.slos", sc.SLOs, def.SLOs)
	sc.SLOs = d.slos(p+".slos", sc.SLOs, fs.SLOs)
	sc.Scalable = fs.Scalable
	fps := payments.FailpointNames()
	for i, ff := range fs.Faults {
		fp := fmt.Sprintf("%s.faults[%d]", p, i)
		spec := chaos.Spec{Kind: ff.Kind, Target: ff.Target, Variant: ff.Variant, Count: ff.Count, Failpoint: ff.Failpoint, Term: ff.Term,
			Latency: d.duration(fp+".latency", ff.Latency, 0), Jitter: d.duration(fp+".jitter", ff.Jitter, 0),
			Lag: d.duration(fp+".lag", ff.Lag, 0), Bandwidth: d.bandwidth(fp+".bandwidth", ff.Bandwidth)}
		if ff.Loss != "" {
			spec.Loss = d.percent(fp+".loss", ff.Loss)
		}
		f, err := chaos.Build(spec, sc.Topology, fps)
		var se *chaos.SpecError
		switch {
		case errors.As(err, &se):
			d.errorf(fp+"."+se.Field, "%s", se.Msg)
			continue
		case err != nil:
			d.errorf(fp, "%v", err)
			continue
		}
		if missing := modeAbilities.Missing(f.Needs()); modeAbilities != nil && len(missing) > 0 {
			d.errorf(fp+".kind", "%s cannot run in %s mode: it needs %s", ff.Kind, sc.Mode, needList(missing))
		}
		at := d.duration(fp+".at", ff.At, 0)
		dur := d.duration(fp+".for", ff.For, 0)
		if ff.For == "" {
			d.errorf(fp, "for: missing (how long the fault lasts)")
		}
		if at >= sc.Load.Duration {
			d.errorf(fp+".at", "starts at %v, after the run ends (%v)", at, sc.Load.Duration)
		} else if at+dur > sc.Load.Duration {
			d.errorf(fp+".for", "ends at %v, after the run ends (%v)", at+dur, sc.Load.Duration)
		}
		sc.Faults = append(sc.Faults, chaos.Entry{Fault: f, At: at, For: dur})
	}
	if n := fs.Nemesis; n != nil {
		np := p + ".nemesis"
		nm := chaos.Nemesis{Kinds: n.Kinds, MaxConcurrent: n.MaxConcurrent, Quiet: d.duration(np+".quiet", n.Quiet, 0)}
		nm.EveryMin, nm.EveryMax = d.span(np+".every", n.Every)
		nm.ForMin, nm.ForMax = d.span(np+".for", n.For)
		if nm.MaxConcurrent == 0 {
			nm.MaxConcurrent = 1
		}
		var se *chaos.SpecError
		if err := nm.Validate(); errors.As(err, &se) {
			d.errorf(np+"."+se.Field, "%s", se.Msg)
		} else if sched, _, err := nm.Schedule(uint64(sc.Seed), sc.Load.Duration, sc.Topology, fps); err != nil {
			d.errorf(np, "%v", err)
		} else if bad := cannotRun(sched, modeAbilities); len(bad) > 0 {
			d.errorf(np+".kinds", "%s cannot run in %s mode (name the kinds it can)", strings.Join(bad, ", "), sc.Mode)
		} else {
			sc.Nemesis = &nm
		}
	}
	if s := fs.Stop; s != nil {
		cond := chaos.StopCondition{MaxErrorRate: d.percent(p+".stop.error_rate", s.ErrorRate), For: d.duration(p+".stop.for", s.For, 0)}
		var se *chaos.SpecError
		if err := cond.Validate(); errors.As(err, &se) {
			d.errorf(p+".stop."+se.Field, "%s", se.Msg)
		}
		sc.Stop = &cond
	}
	for name, term := range fs.Failpoints {
		full, ok := fps[name]
		if !ok {
			d.errorf(p+".failpoints."+name, "unknown failpoint %q (have %s)", name, strings.Join(sortedNames(fps), ", "))
			continue
		}
		f, err := chaos.Build(chaos.Spec{Kind: "failpoint", Failpoint: name, Term: term}, sc.Topology, fps)
		if err != nil {
			d.errorf(p+".failpoints."+name, "%v", err)
			continue
		}
		if missing := modeAbilities.Missing(f.Needs()); modeAbilities != nil && len(missing) > 0 {
			d.errorf(p+".failpoints."+name, "failpoints cannot run in %s mode: they need %s", sc.Mode, needList(missing))
		}
		if sc.Failpoints == nil {
			sc.Failpoints = map[string]string{}
		}
		sc.Failpoints[full] = term
	}
	return sc
}

// cannotRun lists the kinds of the entries that need what the mode lacks.
func cannotRun(es []chaos.Entry, a sim.Abilities) []string {
	var out []string
	for _, e := range es {
		if a != nil && len(a.Missing(e.Fault.Needs())) > 0 && !slices.Contains(out, e.Fault.Name()) {
			out = append(out, e.Fault.Name())
		}
	}
	return out
}

// needList is "mysql nodes: shape, the stack: network".
func needList(ns []sim.Need) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	return strings.Join(out, ", ")
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
