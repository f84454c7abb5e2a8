package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Operation names, as used in Event.Op and in Weights.
const (
	OpTopup    = "topup"
	OpPayment  = "payment"
	OpTransfer = "transfer"
	OpRefund   = "refund"
	OpBalance  = "balance"
)

// Weights are the relative frequencies of the operations in the mix. They need
// not sum to anything in particular; zero switches an operation off.
type Weights struct {
	Payment  float64 `json:"payment" yaml:"payment"`
	Topup    float64 `json:"topup" yaml:"topup"`
	Transfer float64 `json:"transfer" yaml:"transfer"`
	Refund   float64 `json:"refund" yaml:"refund"`
	Balance  float64 `json:"balance" yaml:"balance"`
}

// DefaultWeights is a QR-payment-heavy mix: payments dominate, users top up
// often enough to keep paying, a few transfers, refunds and balance checks.
func DefaultWeights() Weights {
	return Weights{Payment: 55, Topup: 20, Transfer: 10, Refund: 5, Balance: 10}
}

// MixConfig shapes the traffic: which operations, which accounts, how skewed.
type MixConfig struct {
	Weights   Weights // zero value means DefaultWeights
	Users     int     // users u-1..u-Users; default 1000
	Merchants int     // merchants m-1..m-Merchants; default 50
	// MerchantSkew is the Zipf exponent s (> 1) over merchants: a few hot
	// merchants take most payments. Default 1.1.
	MerchantSkew float64
	// PaidRing bounds how many paid payments are remembered as refund
	// candidates. Default 4096.
	PaidRing int
	// DoubleRefund is the probability that a refund of a whole remainder
	// leaves its payment refundable, so it is asked for again later (a
	// merchant clicking refund twice, with a new key). The service must
	// refuse the second one. Default 0.
	DoubleRefund float64
}

func (c MixConfig) withDefaults() MixConfig {
	if c.Weights == (Weights{}) {
		c.Weights = DefaultWeights()
	}
	if c.Users == 0 {
		c.Users = 1000
	}
	if c.Merchants == 0 {
		c.Merchants = 50
	}
	if c.MerchantSkew == 0 {
		c.MerchantSkew = 1.1
	}
	if c.PaidRing == 0 {
		c.PaidRing = 4096
	}
	return c
}

// Validate reports a configuration the mix cannot run.
func (c MixConfig) Validate() error {
	c = c.withDefaults()
	w := c.Weights
	if c.DoubleRefund < 0 || c.DoubleRefund > 1 {
		return fmt.Errorf("mix: double refund probability %v is outside 0..1", c.DoubleRefund)
	}
	for _, v := range []float64{w.Payment, w.Topup, w.Transfer, w.Refund, w.Balance} {
		if v < 0 {
			return errors.New("mix: negative weight")
		}
	}
	switch {
	case c.Users < 2:
		return errors.New("mix: need at least 2 users (transfers go user to user)")
	case c.Merchants < 1:
		return errors.New("mix: need at least 1 merchant")
	case c.MerchantSkew <= 1:
		return errors.New("mix: merchant skew (Zipf s) must be > 1")
	case c.PaidRing < 1:
		return errors.New("mix: paid ring must hold at least 1 payment")
	}
	return nil
}

// paid is a refund candidate: a payment that got a 2xx, and how much of it is
// still refundable as far as this generator knows.
type paid struct {
	id        string
	remaining int64
}

// Mix generates the payment traffic as a vegeta.Targeter. It is safe for
// vegeta's concurrent workers. For a given seed and run id it yields the same
// sequence of targets as long as the same payments are reported through Paid
// and the same refusals through Declined (refunds depend on which payments
// succeeded, auto-charges on which were refused).
type Mix struct {
	mu        sync.Mutex
	cfg       MixConfig
	bases     []string
	runID     string
	rng       *rand.Rand
	zipf      *rand.Zipf
	cum       [5]float64 // cumulative weights, see pickOp
	seq       uint64
	ring      []paid // bounded ring of refund candidates
	ringStart int
	// topupScale multiplies the top-up buttons so that users' money comes
	// in a quarter faster than QR payments take it out: with the scenarios'
	// default mix (70 payments per 10 top-ups) the app's buttons alone
	// drained users: in the last minute of 10 at 1,000/s, 16% of requests
	// were refused for insufficient funds.
	topupScale float64
	charge     []string // users declined for funds, to top up next (auto-charge)
}

// maxCharges bounds the auto-charge queue; declines beyond it are dropped.
const maxCharges = 1024

// Expected amounts of paymentAmount and of the top-up buttons, in yen.
const (
	meanPayment = 0.70*1050 + 0.25*6000 + 0.05*30000 // 3,735
	meanTopup   = (1000 + 3000 + 5000 + 10000 + 20000 + 50000) / 6.0
	topupMargin = 1.25
	// maxTopupScale keeps the largest top-up (¥50,000 × scale) well under
	// the service's ¥10,000,000 limit.
	maxTopupScale = 100
)

// NewMix builds a mix hitting the given base URLs (round robin, e.g.
// "http://127.0.0.1:8080"), drawing from a PCG seeded with seed and keying
// each request "<runID>-<seq>".
func NewMix(cfg MixConfig, seed uint64, runID string, baseURLs ...string) (*Mix, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(baseURLs) == 0 {
		return nil, errors.New("mix: no target URL")
	}
	if runID == "" {
		return nil, errors.New("mix: empty run id")
	}
	cfg = cfg.withDefaults()
	bases := make([]string, len(baseURLs))
	for i, b := range baseURLs {
		if !strings.HasPrefix(b, "http://") && !strings.HasPrefix(b, "https://") {
			return nil, fmt.Errorf("mix: target %q is not an http(s) URL", b)
		}
		bases[i] = strings.TrimRight(b, "/")
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &Mix{
		cfg:   cfg,
		bases: bases,
		runID: runID,
		rng:   rng,
		zipf:  rand.NewZipf(rng, cfg.MerchantSkew, 1, uint64(cfg.Merchants-1)),
		ring:  make([]paid, 0, min(cfg.PaidRing, 1024)),
	}
	w := cfg.Weights
	m.topupScale = 1
	if w.Topup > 0 {
		m.topupScale = min(max(1, topupMargin*w.Payment*meanPayment/(w.Topup*meanTopup)), maxTopupScale)
	}
	var sum float64
	for i, v := range []float64{w.Payment, w.Topup, w.Transfer, w.Refund, w.Balance} {
		sum += v
		m.cum[i] = sum
	}
	if sum == 0 {
		return nil, errors.New("mix: all weights are zero")
	}
	return m, nil
}

// Targeter returns the mix as a vegeta.Targeter.
func (m *Mix) Targeter() vegeta.Targeter { return m.Next }

// Next fills t with the next operation. It never fails.
func (m *Mix) Next(t *vegeta.Target) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	base := m.bases[int(m.seq%uint64(len(m.bases)))]
	m.seq++
	key := m.runID + "-" + strconv.FormatUint(m.seq, 10)
	t.Header = http.Header{"Idempotency-Key": {key}}

	if len(m.charge) > 0 { // auto-charge comes before the mix
		user := m.charge[0]
		m.charge = m.charge[1:]
		t.URL = base + "/v1/topups"
		t.Method = http.MethodPost
		t.Body = appendJSON(nil, "account_id", user, "", "", m.topupAmount())
		t.Header.Set("Content-Type", "application/json")
		return nil
	}
	op := m.pickOp()
	if op == OpRefund && len(m.ring) == 0 {
		op = OpPayment // nothing refundable yet
	}
	var body []byte
	switch op {
	case OpPayment:
		t.URL = base + "/v1/payments"
		body = appendJSON(nil, "user_id", m.user(), "merchant_id", m.merchant(), m.paymentAmount())
	case OpTopup:
		t.URL = base + "/v1/topups"
		body = appendJSON(nil, "account_id", m.user(), "", "", m.topupAmount())
	case OpTransfer:
		from := m.rng.IntN(m.cfg.Users)
		to := m.rng.IntN(m.cfg.Users - 1)
		if to >= from {
			to++ // never to oneself
		}
		t.URL = base + "/v1/transfers"
		body = appendJSON(nil, "from", "u-"+strconv.Itoa(from+1), "to", "u-"+strconv.Itoa(to+1), m.transferAmount())
	case OpRefund:
		id, amount := m.refund()
		t.URL = base + "/v1/refunds"
		body = appendJSON(nil, "payment_id", id, "", "", amount)
	case OpBalance:
		t.Method, t.Body = http.MethodGet, nil
		acct := m.user()
		if m.rng.IntN(4) == 0 {
			acct = m.merchant()
		}
		t.URL = base + "/v1/accounts/" + acct
		return nil
	}
	t.Method = http.MethodPost
	t.Body = body
	t.Header.Set("Content-Type", "application/json")
	return nil
}

// Paid tells the mix that a payment got a 2xx, making it a refund candidate.
// The oldest candidate is forgotten once the ring is full.
func (m *Mix) Paid(paymentID string, amount int64) {
	if paymentID == "" || amount <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := paid{id: paymentID, remaining: amount}
	if len(m.ring) < m.cfg.PaidRing {
		m.ring = append(m.ring, p)
		return
	}
	m.ring[m.ringStart] = p
	m.ringStart = (m.ringStart + 1) % len(m.ring)
}

// Declined tells the mix that a user's payment or transfer was refused for
// insufficient funds: the user tops up next, as the app's auto-charge does.
// Without it a long run drains a growing share of users, whose balances
// wander below their next payment, and refusals climb minute by minute.
func (m *Mix) Declined(user string) {
	if user == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.charge) < maxCharges {
		m.charge = append(m.charge, user)
	}
}

// pickOp draws an operation; m.cum accumulates the weights in the order
// payment, topup, transfer, refund, balance.
func (m *Mix) pickOp() string {
	x := m.rng.Float64() * m.cum[len(m.cum)-1]
	switch {
	case x < m.cum[0]:
		return OpPayment
	case x < m.cum[1]:
		return OpTopup
	case x < m.cum[2]:
		return OpTransfer
	case x < m.cum[3]:
		return OpRefund
	}
	return OpBalance
}

// user draws a user uniformly.
func (m *Mix) user() string { return "u-" + strconv.Itoa(m.rng.IntN(m.cfg.Users)+1) }

// merchant draws a merchant with Zipf skew: m-1 is the hottest.
func (m *Mix) merchant() string { return "m-" + strconv.FormatUint(m.zipf.Uint64()+1, 10) }

// paymentAmount: mostly convenience-store sized, some restaurants and
// electronics; whole yen, rounded to 10.
func (m *Mix) paymentAmount() int64 {
	switch x := m.rng.IntN(100); {
	case x < 70:
		return roundTo(100+m.rng.Int64N(1900), 10) // ¥100–2,000
	case x < 95:
		return roundTo(2000+m.rng.Int64N(8000), 10) // ¥2,000–10,000
	default:
		return roundTo(10000+m.rng.Int64N(40000), 100) // ¥10,000–50,000
	}
}

// topupAmount picks one of the amounts the app offers as buttons, scaled
// by topupScale.
func (m *Mix) topupAmount() int64 {
	choices := [...]int64{1000, 3000, 5000, 10000, 20000, 50000}
	return roundTo(int64(float64(choices[m.rng.IntN(len(choices))])*m.topupScale), 1000)
}

// transferAmount: splitting a bill, ¥500–10,000 in hundreds.
func (m *Mix) transferAmount() int64 { return roundTo(500+m.rng.Int64N(9500), 100) }

// refund picks a candidate and an amount: usually the whole remainder,
// sometimes a part. A fully refunded candidate leaves the ring.
func (m *Mix) refund() (string, int64) {
	i := m.rng.IntN(len(m.ring))
	p := &m.ring[i]
	amount := p.remaining
	if m.rng.IntN(3) == 0 && p.remaining > 1 {
		amount = 1 + m.rng.Int64N(p.remaining-1) // partial
	}
	id := p.id
	if amount == p.remaining && m.cfg.DoubleRefund > 0 && m.rng.Float64() < m.cfg.DoubleRefund {
		return id, amount // a double click: the payment stays a candidate
	}
	p.remaining -= amount
	if p.remaining <= 0 {
		m.removeAt(i)
	}
	return id, amount
}

// removeAt drops ring entry i (order is irrelevant for random picks, but the
// oldest-first overwrite position must stay valid).
func (m *Mix) removeAt(i int) {
	last := len(m.ring) - 1
	m.ring[i] = m.ring[last]
	m.ring = m.ring[:last]
	if m.ringStart >= len(m.ring) {
		m.ringStart = 0
	}
}

func roundTo(v, unit int64) int64 {
	if r := v / unit * unit; r > 0 {
		return r
	}
	return unit
}

// appendJSON writes {"k1":"v1","k2":"v2","amount":n}; k2 may be empty. Keys
// and values are generator-made identifiers that need no escaping.
func appendJSON(b []byte, k1, v1, k2, v2 string, amount int64) []byte {
	b = append(b, `{"`...)
	b = append(b, k1...)
	b = append(b, `":"`...)
	b = append(b, v1...)
	b = append(b, '"')
	if k2 != "" {
		b = append(b, `,"`...)
		b = append(b, k2...)
		b = append(b, `":"`...)
		b = append(b, v2...)
		b = append(b, '"')
	}
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, amount, 10)
	return append(b, '}')
}
