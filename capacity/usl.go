package capacity

import (
	"errors"
	"math"
)

// USL is Gunther's Universal Scalability Law fitted to the steps:
// X(N) = λN / (1 + σ(N−1) + κN(N−1)), throughput X against concurrency N,
// where N comes from Little's law (N = X × mean latency). σ is contention
// (the serial part), κ coherency (the cost of keeping shared state
// consistent), λ the throughput of one request in flight.
type USL struct {
	Lambda float64 `json:"lambda"`
	Sigma  float64 `json:"sigma"`
	Kappa  float64 `json:"kappa"`
	// PeakConcurrency is N at the predicted peak (0 when κ = 0: the curve
	// only flattens); PredictedPeak is X there, or λ/σ, its asymptote.
	PeakConcurrency float64 `json:"peak_concurrency"`
	PredictedPeak   float64 `json:"predicted_peak"`
	// MeasuredKnee is the highest rate sustained with every AZ, and
	// Disagreement |predicted − measured| / measured.
	MeasuredKnee float64 `json:"measured_knee"`
	Disagreement float64 `json:"disagreement"`
	Points       int     `json:"points"`
	R2           float64 `json:"r2"`
}

// point is one step on the curve.
type point struct{ n, x float64 }

// fitUSL fits the law by least squares on its linear form
// N/X = 1/λ + (σ/λ)(N−1) + (κ/λ)N(N−1), with σ and κ held at 0 when the
// unconstrained fit makes them negative.
func fitUSL(pts []point) (USL, error) {
	var use []point
	for _, p := range pts {
		if p.n > 0 && p.x > 0 {
			use = append(use, p)
		}
	}
	if len(use) < 3 {
		return USL{}, errors.New("usl: fewer than 3 steps with traffic")
	}
	cols := []func(p point) float64{
		func(point) float64 { return 1 },
		func(p point) float64 { return p.n - 1 },
		func(p point) float64 { return p.n * (p.n - 1) },
	}
	keep := []bool{true, true, true}
	var coef []float64
	for {
		var ok bool
		coef, ok = leastSquares(use, cols, keep)
		if !ok {
			return USL{}, errors.New("usl: the steps do not determine the curve")
		}
		switch {
		case keep[2] && coef[2] < 0:
			keep[2] = false
			continue
		case keep[1] && coef[1] < 0:
			keep[1] = false
			continue
		}
		break
	}
	if coef[0] <= 0 {
		return USL{}, errors.New("usl: the fit gives no positive single-request throughput")
	}
	u := USL{Lambda: 1 / coef[0], Sigma: coef[1] / coef[0], Kappa: coef[2] / coef[0], Points: len(use)}
	u.R2 = r2(use, u)
	switch {
	case u.Kappa > 0 && u.Sigma < 1:
		u.PeakConcurrency = math.Sqrt((1 - u.Sigma) / u.Kappa)
		u.PredictedPeak = u.x(u.PeakConcurrency)
	case u.Sigma > 0:
		u.PredictedPeak = u.Lambda / u.Sigma
	}
	return u, nil
}

// x is the law's throughput at concurrency n.
func (u USL) x(n float64) float64 {
	return u.Lambda * n / (1 + u.Sigma*(n-1) + u.Kappa*n*(n-1))
}

// leastSquares solves the normal equations for the kept columns; the
// dropped ones' coefficients are 0.
func leastSquares(pts []point, cols []func(point) float64, keep []bool) ([]float64, bool) {
	var idx []int
	for i, k := range keep {
		if k {
			idx = append(idx, i)
		}
	}
	m := len(idx)
	a := make([][]float64, m)
	for i := range a {
		a[i] = make([]float64, m+1)
	}
	for _, p := range pts {
		y := p.n / p.x
		for i, ci := range idx {
			vi := cols[ci](p)
			for j, cj := range idx {
				a[i][j] += vi * cols[cj](p)
			}
			a[i][m] += vi * y
		}
	}
	// Gaussian elimination with partial pivoting.
	for c := 0; c < m; c++ {
		piv := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[piv][c]) {
				piv = r
			}
		}
		if math.Abs(a[piv][c]) < 1e-12 {
			return nil, false
		}
		a[c], a[piv] = a[piv], a[c]
		for r := 0; r < m; r++ {
			if r == c {
				continue
			}
			f := a[r][c] / a[c][c]
			for k := c; k <= m; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	out := make([]float64, len(cols))
	for i, ci := range idx {
		out[ci] = a[i][m] / a[i][i]
	}
	return out, true
}

// r2 is the fit's coefficient of determination on throughput.
func r2(pts []point, u USL) float64 {
	mean := 0.0
	for _, p := range pts {
		mean += p.x
	}
	mean /= float64(len(pts))
	var res, tot float64
	for _, p := range pts {
		res += math.Pow(p.x-u.x(p.n), 2)
		tot += math.Pow(p.x-mean, 2)
	}
	if tot == 0 {
		return 1
	}
	return 1 - res/tot
}
