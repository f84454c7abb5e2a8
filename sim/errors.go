package sim

import "errors"

// ErrEnvironment marks a failure of the environment rather than of the stack
// or the scenario (e.g. containers mode without a Docker engine): the CLI
// exits 3. It lives here, below every backend, so that a backend can wrap it
// without importing the package that assembles the stack.
var ErrEnvironment = errors.New("environment")
