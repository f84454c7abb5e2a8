package engine

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"paysim/sim"
)

func TestLabelsMap(t *testing.T) {
	tests := []struct {
		name    string
		l       Labels
		want    map[string]string
		wantErr string
	}{
		{"every field", Labels{Run: "r1", AZ: "az-a", Service: "mysql", Role: "primary", Node: "mysql-az-a"},
			map[string]string{LabelRun: "r1", LabelAZ: "az-a", LabelService: "mysql", LabelRole: "primary", LabelNode: "mysql-az-a"}, ""},
		{"network: run only", Labels{Run: "20261202-153012-a1b2c3"}, map[string]string{LabelRun: "20261202-153012-a1b2c3"}, ""},
		{"empty fields omitted", Labels{Run: "r1", AZ: "az-a"}, map[string]string{LabelRun: "r1", LabelAZ: "az-a"}, ""},
		{"no run", Labels{AZ: "az-a"}, nil, "no run id"},
		{"bad run", Labels{Run: "Run 1"}, nil, "run id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.l.Map()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Map() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Map() = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("Map()[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestValidRunID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"20261202-153012-a1b2c3", true},
		{"r", true},
		{"test-run-1", true},
		{"", false},
		{"-leading-dash", false},
		{"UPPER", false},
		{"has space", false},
		{"under_score", false},
		{strings.Repeat("a", 41), false},
	}
	for _, tt := range tests {
		if err := ValidRunID(tt.id); (err == nil) != tt.ok {
			t.Errorf("ValidRunID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

func TestNewRunID(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 30, 12, 0, time.UTC)
	a, b := NewRunID(now), NewRunID(now)
	for _, id := range []string{a, b} {
		if err := ValidRunID(id); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "20261202-153012-") {
			t.Fatalf("NewRunID = %q, want the time first", id)
		}
	}
	if a == b {
		t.Fatalf("two run ids at the same second are equal: %q", a)
	}
}

func TestRunFilter(t *testing.T) {
	if got := RunFilter(""); got != "paysim.run" {
		t.Errorf("RunFilter(\"\") = %q", got)
	}
	if got := RunFilter("r1"); got != "paysim.run=r1" {
		t.Errorf("RunFilter(r1) = %q", got)
	}
}

func TestLocalDockerHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"", true},
		{"unix:///var/run/docker.sock", true},
		{"tcp://127.0.0.1:2375", true},
		{"tcp://localhost:2376", true},
		{"tcp://[::1]:2375", true},
		{"tcp://10.0.0.5:2375", false},
		{"tcp://docker.example.com:2376", false},
		{"ssh://user@host", false},
	}
	for _, tt := range tests {
		if err := localDockerHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("localDockerHost(%q) = %v, want ok=%v", tt.host, err, tt.ok)
		}
	}
}

func TestBindingLoopback(t *testing.T) {
	tests := []struct {
		ip string
		ok bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"", false}, // every interface
		{"0.0.0.0", false},
		{"::", false},
		{"172.17.0.1", false},
	}
	for _, tt := range tests {
		if got := (Binding{HostIP: tt.ip}).Loopback(); got != tt.ok {
			t.Errorf("Binding{HostIP: %q}.Loopback() = %v, want %v", tt.ip, got, tt.ok)
		}
	}
}

// A DOCKER_HOST that does not answer is an environment error with one line
// saying what to do (testcontainers alone would quietly use another engine).
func TestConnectWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/paysim-test.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Connect(ctx)
	if err == nil {
		e.Close()
		t.Fatal("Connect succeeded without an engine")
	}
	if !errors.Is(err, sim.ErrEnvironment) {
		t.Fatalf("Connect error %v does not wrap sim.ErrEnvironment", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "no Docker engine") || !strings.Contains(msg, "--mode embedded") {
		t.Fatalf("Connect error is not one line with a reason and what to do: %q", msg)
	}
}

func TestConnectRemoteEngineRefused(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://192.0.2.1:2375") // TEST-NET-1: never dialled
	_, err := Connect(context.Background())
	if !errors.Is(err, sim.ErrEnvironment) || !strings.Contains(err.Error(), "not on this machine") {
		t.Fatalf("Connect = %v, want an environment error about a remote engine", err)
	}
}

// Setup leaves the two settings testcontainers needs here, whatever the
// environment said before.
func TestSetup(t *testing.T) {
	t.Setenv(EnvRyukDisabled, "false")
	t.Setenv(EnvHostOverride, "10.0.0.1")
	if err := Setup(); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{EnvRyukDisabled: "true", EnvHostOverride: "127.0.0.1"} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q after Setup, want %q", k, got, want)
		}
	}
}
