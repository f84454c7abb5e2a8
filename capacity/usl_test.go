package capacity

import (
	"math"
	"strings"
	"testing"
)

func TestFitUSL(t *testing.T) {
	law := USL{Lambda: 100, Sigma: 0.05, Kappa: 0.002}
	curve := func(ns ...float64) []point {
		var out []point
		for _, n := range ns {
			out = append(out, point{n, law.x(n)})
		}
		return out
	}
	tests := []struct {
		name    string
		pts     []point
		want    USL // zero: an error
		wantErr string
	}{
		{"the law's own points give it back", curve(1, 2, 4, 8, 16, 32, 64), law, ""},
		{"a curve that only flattens: κ held at 0", []point{{1, 100}, {2, 185}, {4, 320}, {8, 520}, {16, 900}}, USL{}, ""},
		{"too few steps", curve(1, 2), USL{}, "fewer than 3"},
		{"steps without traffic do not count", append(curve(1, 2), point{0, 0}), USL{}, "fewer than 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := fitUSL(tt.pts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Lambda > 0 {
				for _, f := range [][2]float64{{u.Lambda, tt.want.Lambda}, {u.Sigma, tt.want.Sigma}, {u.Kappa, tt.want.Kappa}} {
					if math.Abs(f[0]-f[1]) > 1e-6*math.Max(1, f[1]) {
						t.Fatalf("fit %+v, want %+v", u, tt.want)
					}
				}
				if n := math.Sqrt((1 - law.Sigma) / law.Kappa); math.Abs(u.PeakConcurrency-n) > 1e-6 || math.Abs(u.PredictedPeak-law.x(n)) > 1e-6 {
					t.Fatalf("peak N %.3f X %.3f, want %.3f %.3f", u.PeakConcurrency, u.PredictedPeak, n, law.x(n))
				}
				return
			}
			if u.Kappa != 0 || u.Sigma <= 0 || u.PredictedPeak <= 900 || u.R2 < 0.9 {
				t.Fatalf("fit %+v: want κ 0, σ > 0 and an asymptote above the last step", u)
			}
		})
	}
}
