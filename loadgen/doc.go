// Package loadgen is paysim's traffic generator: pacers (constant, ramp, step,
// spike), a seeded payment mix, a mobile-client retry policy that reuses the
// idempotency key, the history recorder (history.jsonl) and live per-second
// metrics over HDR histograms.
//
// The pieces plug into vegeta's lib: pacers are vegeta.Pacers, the mix is a
// vegeta.Targeter, and the retrying Client is the http.RoundTripper behind
// vegeta's attacker. Run ties them together; it never needs a *testing.T and
// is driven by the CLI.
package loadgen
