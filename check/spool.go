package check

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// spool is an archive's file: lines appended during a run, read back once
// at its end, removed on close. Its users serialise access.
type spool struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

// newSpool creates the file under dir (the system's temporary directory
// when ""), named after pattern as os.CreateTemp does.
func newSpool(dir, pattern string) (*spool, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &spool{path: f.Name(), f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// each flushes what was appended and calls fn with every line, in order;
// appending may go on afterwards.
func (s *spool) each(fn func(line []byte)) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sc := bufio.NewScanner(s.f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	_, serr := s.f.Seek(0, io.SeekEnd)
	if err := errors.Join(sc.Err(), serr); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// close removes the file.
func (s *spool) close() error { return errors.Join(s.f.Close(), os.Remove(s.path)) }
