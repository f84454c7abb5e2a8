package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/containers"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
)

// helperTierEnv makes the test binary, re-run as a child, start a data tier
// under that run id and then wait to be killed.
const helperTierEnv = "PAYSIM_TEST_HELPER_TIER_RUN"

// TestHelperDataTier is not a test: it is the child process of
// TestDownAfterKilledProcess.
func TestHelperDataTier(t *testing.T) {
	run := os.Getenv(helperTierEnv)
	if run == "" {
		t.Skip("helper process only")
	}
	topo := sim.DefaultTopology()
	topo.AZs = topo.AZs[:1]
	if _, err := containers.Start(context.Background(), containers.Options{Run: run, Topology: topo, NoSchema: true}); err != nil {
		t.Fatalf("start: %v", err)
	}
	os.Stdout.WriteString("READY\n")
	select {} // until killed: nothing closes the tier
}

// A paysim process killed with SIGKILL cannot remove its containers;
// `paysim down` does.
func TestDownAfterKilledProcess(t *testing.T) {
	eng := containerstest.Require(t)
	run := engine.NewRunID(time.Now())
	t.Cleanup(func() { _, _ = eng.Sweep(context.Background(), run) }) // whatever happens below

	child := exec.Command(os.Args[0], "-test.run=^TestHelperDataTier$", "-test.v")
	child.Env = append(os.Environ(), helperTierEnv+"="+run)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if sc.Text() == "READY" {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- io.ErrUnexpectedEOF
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = child.Wait()
			t.Fatalf("child exited before its tier was up:\n%s", log.String())
		}
	case <-time.After(4 * time.Minute):
		_ = child.Process.Kill()
		t.Fatalf("child's tier not up in 4 minutes:\n%s", log.String())
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup runs
		t.Fatal(err)
	}
	_ = child.Wait()

	left, err := eng.Leftovers(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	var ctrs, nets int
	for _, r := range left {
		if r.Kind == "container" {
			ctrs++
		} else {
			nets++
		}
	}
	if ctrs < 4 || nets != 1 { // 1 AZ: mysql, redis x2, sentinel; and the network
		t.Fatalf("the killed child left %d containers and %d networks, want >= 4 and 1: the test proves nothing", ctrs, nets)
	}

	if code := execute(context.Background(), []string{"down", "--run", run}, os.Stderr); code != exitPass {
		t.Fatalf("paysim down exited %d", code)
	}
	if left, err := eng.Leftovers(context.Background(), run); err != nil || len(left) > 0 {
		t.Fatalf("after paysim down: %v left (%v)", left, err)
	}
}

func TestContainersCommandsWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/paysim-test.sock")
	for _, args := range [][]string{{"images", "list"}, {"images", "build", "--only", "toxiproxy"}, {"down"}} {
		var stderr strings.Builder
		if code := execute(context.Background(), args, &stderr); code != exitEnvironment {
			t.Errorf("paysim %v exited %d, want %d; stderr %q", args, code, exitEnvironment, stderr.String())
		}
		if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "no Docker engine") {
			t.Errorf("paysim %v: want one line saying there is no Docker engine, got %q", args, msg)
		}
	}
}

func TestContainersCommandsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"down", "--run", "Not A Run"},
		{"images", "build", "--only", "kafka"},
		{"images", "build", "--builder", "kaniko"},
		{"images", "build", "--progress", "fancy"},
	} {
		var stderr strings.Builder
		if code := execute(context.Background(), args, &stderr); code != exitUsage {
			t.Errorf("paysim %v exited %d, want %d; stderr %q", args, code, exitUsage, stderr.String())
		}
	}
}
