// Command paysim brings up a simulated payments stack, drives payment traffic
// at it, breaks it the way a cloud region breaks, and checks that no money
// was lost, created or moved twice.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"paysim/internal/gctune"
	"paysim/scenarios"
)

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// Exit codes (ARCHITECTURE.md).
const (
	exitPass        = 0
	exitFail        = 1
	exitUsage       = 2
	exitEnvironment = 3
	// exitInconclusive: the drill could not be judged (a fault failed to
	// inject, nothing to check, a saturated host): retry, not a failure.
	exitInconclusive = 4
	exitInterrupted  = 130
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain is main without the exit: the signals that stop paysim cancel
// the command's context, so that every one of them tears down what was
// started and writes what was measured: Ctrl-C, SIGTERM and SIGHUP (the
// terminal went away). A reader that leaves stdout (`paysim run | head`)
// does the same: SIGPIPE is ignored, so that the write fails with EPIPE
// instead of killing the process with its containers still running, and
// that failed write cancels the run. (Notify for SIGPIPE would not do: it
// also fires for every write to a peer's closed socket, which faults cause
// all the time.)
func runMain(args []string) int {
	defer tuneGC()()
	// go-redis prints its pools' dial failures to stderr, hundreds a second
	// while a fault cuts Redis off, through the dashboard and the plain
	// output alike; the app's own errors are what a run reports.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	signal.Ignore(syscall.SIGPIPE)
	ctx, gone := context.WithCancel(ctx)
	defer gone()
	return executeIO(ctx, args, stdoutWatch{w: os.Stdout, gone: gone}, os.Stderr)
}

// stdoutWatch cancels the run when its reader has left (EPIPE).
type stdoutWatch struct {
	w    io.Writer
	gone context.CancelFunc
}

func (s stdoutWatch) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		s.gone()
	}
	return n, err
}

// tuneGC trades memory for CPU: the whole stack shares one process on few
// cores, and the default GOGC=100 spends a tenth of the CPU on collection at
// 1,000+ payments/s. 170 rather than more: without a limit, at 1,000/s for
// 60 s, GOGC=400 peaked at 1.78 GB RSS and 200 at 1.14 GB for 4% more CPU
// and the same p99; with the limit, 400 peaked at 681 MB against 170's
// 440 MB for 5% less CPU at 1,000/s and none at 500/s. After 10 minutes at
// 1,000/s the live heap is about 230 MB. The soft limit bounds a heap that
// grows past it. Below gcFloor the heap goal is held at gcFloor instead
// (gctune.Floor): a small live heap is then collected less often, for at
// most gcFloor of memory, and a large one as before. GOGC and GOMEMLIMIT in
// the environment still win. The returned function stops the tuning.
func tuneGC() (stop func()) {
	stop = func() {}
	if os.Getenv("GOGC") == "" {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			gctune.Floor(ctx, gcFloor, gcPercent, gcPoll)
		}()
		stop = func() { cancel(); <-done }
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(800 << 20)
	}
	return stop
}

// The collector's settings (tuneGC). gcFloor: at 500 payments/s the live
// heap is about 23 MB, and GOGC=170 collected 1.4 times a second, 7% of the
// process's CPU; with the goal held at 160 MB (GOGC 600 there) a payment
// cost 5% less CPU side by side (B/A 0.972, 0.936, 0.951, 0.937), for about
// 55 MB more RSS at that rate.
const (
	gcPercent = 170
	gcFloor   = 160 << 20
	gcPoll    = 500 * time.Millisecond
)

// execute runs the CLI and maps errors to exit codes.
func execute(ctx context.Context, args []string, stderr io.Writer) int {
	return executeIO(ctx, args, nil, stderr)
}

// executeIO is execute with the commands' output going to stdout (nil:
// os.Stdout).
func executeIO(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, flush := newRoot()
	root.SetArgs(args)
	if stdout != nil {
		root.SetOut(stdout)
	}
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	flush()
	if err == nil {
		return exitPass
	}
	var ee *exitError
	if errors.As(err, &ee) {
		var fe scenarios.FileErrors
		switch {
		case errors.As(ee.err, &fe):
			fmt.Fprintln(stderr, fe.Error()) // FILE:LINE:COL: path: message, one per line
		case ee.err != nil && ee.code != exitFail && ee.code != exitInconclusive && ee.code != exitInterrupted:
			fmt.Fprintln(stderr, "paysim:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "paysim:", err)
	return exitUsage
}

// newRoot builds the command tree; the returned func flushes the optional
// CPU profile and must run on every exit path.
func newRoot() (*cobra.Command, func()) {
	root := &cobra.Command{
		Use:           "paysim",
		Short:         "Local full-stack simulator and chaos testbed for a mobile-payments platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	var cpuProfile, allocProfile, pprofAddr string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole process to this file")
	root.PersistentFlags().StringVar(&allocProfile, "allocprofile", "", "write a pprof allocation profile of the whole process to this file at exit")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address while running (e.g. 127.0.0.1:6060)")
	_ = root.PersistentFlags().MarkHidden("allocprofile")
	_ = root.PersistentFlags().MarkHidden("pprof")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if pprofAddr != "" {
			ln, err := net.Listen("tcp", pprofAddr)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("--pprof: %w", err))
			}
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", httppprof.Index)
			mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
			go func() { _ = http.Serve(ln, mux) }()
		}
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--cpuprofile: %w", err))
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return withCode(exitUsage, fmt.Errorf("--cpuprofile: %w", err))
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.AddCommand(newUpCmd(), newRunCmd(), newListCmd(), newValidateCmd(), newSelftestCmd(),
		newImagesCmd(), newDownCmd(), newNodeCmd(), newReportCmd(), newDiffCmd(), newCapacityCmd())
	return root, func() {
		if stopProfile != nil {
			stopProfile()
		}
		if allocProfile != "" {
			if f, err := os.Create(allocProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
