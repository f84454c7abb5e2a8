//go:build unix

package mysqlwire

import (
	"sync"
	"syscall"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The memory VFS ("paysim-mem") is unix-excl with the contents of each WAL
// held in this process's memory: the frames a commit appends and the pages
// readers find there are copies instead of pwrite and pread calls (two
// writes a frame; at 500 payments/s the WAL's were about 4% of the stack's
// CPU, with the file on tmpfs). Opening, locking and the WAL index stay
// unix-excl's, on the real (empty) WAL file, so SQLite's concurrency is
// untouched; the database file, journals and temporary files are
// unix-excl's own. Only the WAL: it is bounded (checkpoints restart it),
// where the database grows with every payment and would grow the
// process's resident memory with it. Written by hand: modernc's only Go
// VFS (modernc.org/sqlite/vfs) serves a read-only fs.FS.
//
// The contents live in anonymous mappings, outside the Go heap, released
// when SQLite deletes the WAL (its last connection closed, the storage
// closed) and has closed every handle on it.
//
// A VFS is registered with SQLite once per process and SQLite calls it
// with no context of ours, so its files are process-wide state (memVFS).

// ledgerVFS is the SQLite VFS the storage opens its file with. Only this
// process opens the file: unix-excl holds one lock on it for good and keeps
// the WAL index in this process's memory, so the connections' read and
// write marks are taken in memory, not with two fcntl calls each on a -shm
// file (2% of the stack's CPU at 500 payments/s).
const ledgerVFS = "unix-excl"

const (
	memVFSName = "paysim-mem"
	// memChunk is the size of each anonymous mapping a file grows by.
	memChunk = 1 << 20
)

// memFile is one file's contents: size bytes over chunks. Bytes at or past
// size are zero in every mapped chunk.
type memFile struct {
	mu     sync.RWMutex
	chunks [][]byte
	size   int64
	refs   int // open handles, plus one while named (memVFS.mu)
}

// memVFS is the process's registry of memory files.
var memVFS struct {
	once    sync.Once
	name    string  // memVFSName once registered, "" if registration failed
	base    uintptr // unix-excl's sqlite3_vfs
	methods uintptr // the io methods of a memory file
	mu      sync.Mutex
	files   map[string]*memFile // by the full path SQLite opens
	handles map[uintptr]memHandle
}

type memHandle struct {
	f    *memFile
	orig uintptr // unix-excl's io methods of the handle
}

// fnPtr is a Go function as SQLite's C code (transpiled by ccgo) calls it:
// the function value's word, as modernc's own __ccgo_fp.
func fnPtr(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// registerMemVFS registers the memory VFS once and returns its name, or ""
// when unix-excl is missing or registration failed.
func registerMemVFS() string {
	memVFS.once.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		zBase, err := libc.CString("unix-excl")
		if err != nil {
			return
		}
		defer libc.Xfree(tls, zBase)
		base := sqlite3.Xsqlite3_vfs_find(tls, zBase)
		if base == 0 {
			return
		}
		zName, err := libc.CString(memVFSName)
		if err != nil {
			return
		}
		p := libc.Xmalloc(tls, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
		if p == 0 {
			return
		}
		v := (*sqlite3.Tsqlite3_vfs)(cptr(p))
		*v = *(*sqlite3.Tsqlite3_vfs)(cptr(base))
		v.FpNext, v.FzName = 0, zName
		v.FxOpen, v.FxDelete = fnPtr(memOpen), fnPtr(memDelete)
		memVFS.base = base
		memVFS.files = map[string]*memFile{}
		memVFS.handles = map[uintptr]memHandle{}
		if sqlite3.Xsqlite3_vfs_register(tls, p, 0) == sqlite3.SQLITE_OK {
			memVFS.name = memVFSName
		}
	})
	return memVFS.name
}

// releaseMemFile drops the memory file named name; its memory goes when
// SQLite closes its last handle on it.
func releaseMemFile(name string) {
	memVFS.mu.Lock()
	defer memVFS.mu.Unlock()
	if f := memVFS.files[name]; f != nil {
		delete(memVFS.files, name)
		f.unref()
	}
}

// memFilesOpen is how many memory files are named (tests).
func memFilesOpen() int {
	memVFS.mu.Lock()
	defer memVFS.mu.Unlock()
	return len(memVFS.files)
}

func baseOpen(tls *libc.TLS, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	xOpen := (*sqlite3.Tsqlite3_vfs)(cptr(memVFS.base)).FxOpen
	return (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{xOpen})))(tls, memVFS.base, zName, pFile, flags, pOutFlags)
}

// memOpen opens the file with unix-excl, then serves a WAL's contents from
// memory.
func memOpen(tls *libc.TLS, _ uintptr, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := baseOpen(tls, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || zName == 0 || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	if file.FpMethods == 0 {
		return rc
	}
	name := libc.GoString(zName)
	memVFS.mu.Lock()
	defer memVFS.mu.Unlock()
	if memVFS.methods == 0 {
		p := libc.Xmalloc(tls, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		if p == 0 {
			return rc // unix-excl's own file, then
		}
		m := (*sqlite3.Tsqlite3_io_methods)(cptr(p))
		*m = *(*sqlite3.Tsqlite3_io_methods)(cptr(file.FpMethods))
		m.FxClose, m.FxRead, m.FxWrite = fnPtr(memClose), fnPtr(memRead), fnPtr(memWrite)
		m.FxTruncate, m.FxSync, m.FxFileSize = fnPtr(memTruncate), fnPtr(memSync), fnPtr(memFileSize)
		m.FxFetch, m.FxUnfetch = fnPtr(memFetch), fnPtr(memUnfetch)
		memVFS.methods = p
	}
	f := memVFS.files[name]
	if f == nil {
		f = &memFile{refs: 1}
		memVFS.files[name] = f
	}
	f.refs++
	memVFS.handles[pFile] = memHandle{f: f, orig: file.FpMethods}
	file.FpMethods = memVFS.methods
	return rc
}

// memDelete forgets the memory file (SQLite deletes a WAL when its last
// connection closes) and deletes the real one.
func memDelete(tls *libc.TLS, _ uintptr, zName uintptr, syncDir int32) int32 {
	releaseMemFile(libc.GoString(zName))
	xDelete := (*sqlite3.Tsqlite3_vfs)(cptr(memVFS.base)).FxDelete
	return (*(*func(*libc.TLS, uintptr, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{xDelete})))(tls, memVFS.base, zName, syncDir)
}

func memFileOf(pFile uintptr) *memFile {
	memVFS.mu.Lock()
	defer memVFS.mu.Unlock()
	return memVFS.handles[pFile].f
}

func memClose(tls *libc.TLS, pFile uintptr) int32 {
	memVFS.mu.Lock()
	h := memVFS.handles[pFile]
	delete(memVFS.handles, pFile)
	h.f.unref()
	memVFS.mu.Unlock()
	(*sqlite3.Tsqlite3_file)(cptr(pFile)).FpMethods = h.orig
	xClose := (*sqlite3.Tsqlite3_io_methods)(cptr(h.orig)).FxClose
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{xClose})))(tls, pFile)
}

// unref drops a reference (memVFS.mu held); the last one unmaps the file.
func (f *memFile) unref() {
	if f.refs--; f.refs > 0 {
		return
	}
	f.mu.Lock()
	for _, c := range f.chunks {
		_ = syscall.Munmap(c)
	}
	f.chunks, f.size = nil, 0
	f.mu.Unlock()
}

func bytesAt(p uintptr, n int32) []byte { return unsafe.Slice((*byte)(cptr(p)), n) }

func memRead(_ *libc.TLS, pFile, buf uintptr, amt int32, off int64) int32 {
	if memFileOf(pFile).read(bytesAt(buf, amt), off) < int(amt) {
		return sqlite3.SQLITE_IOERR_SHORT_READ
	}
	return sqlite3.SQLITE_OK
}

func memWrite(_ *libc.TLS, pFile, buf uintptr, amt int32, off int64) int32 {
	if !memFileOf(pFile).write(bytesAt(buf, amt), off) {
		return sqlite3.SQLITE_IOERR_WRITE
	}
	return sqlite3.SQLITE_OK
}

func memTruncate(_ *libc.TLS, pFile uintptr, size int64) int32 {
	memFileOf(pFile).truncate(size)
	return sqlite3.SQLITE_OK
}

// memSync has nothing to flush: the memory is the file.
func memSync(*libc.TLS, uintptr, int32) int32 { return sqlite3.SQLITE_OK }

func memFileSize(_ *libc.TLS, pFile, pSize uintptr) int32 {
	f := memFileOf(pFile)
	f.mu.RLock()
	*(*int64)(cptr(pSize)) = f.size
	f.mu.RUnlock()
	return sqlite3.SQLITE_OK
}

// memFetch maps nothing: SQLite then reads the page (xRead).
func memFetch(_ *libc.TLS, _ uintptr, _ int64, _ int32, pp uintptr) int32 {
	*(*uintptr)(cptr(pp)) = 0
	return sqlite3.SQLITE_OK
}

func memUnfetch(*libc.TLS, uintptr, int64, uintptr) int32 { return sqlite3.SQLITE_OK }

// read copies from off into dst and returns how many bytes there were; the
// rest of dst is zeroed (SQLite's short-read contract).
func (f *memFile) read(dst []byte, off int64) int {
	f.mu.RLock()
	n := 0
	for n < len(dst) && off+int64(n) < f.size {
		at := off + int64(n)
		c := f.chunks[at/memChunk][at%memChunk:]
		k := copy(dst[n:], c[:min(int64(len(c)), f.size-at)])
		n += k
	}
	f.mu.RUnlock()
	clear(dst[n:])
	return n
}

// write copies src to off, growing the file; false when memory ran out.
func (f *memFile) write(src []byte, off int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := off + int64(len(src))
	for int64(len(f.chunks))*memChunk < end {
		c, err := syscall.Mmap(-1, 0, memChunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return false
		}
		f.chunks = append(f.chunks, c)
	}
	for n := 0; n < len(src); {
		at := off + int64(n)
		n += copy(f.chunks[at/memChunk][at%memChunk:], src[n:])
	}
	f.size = max(f.size, end)
	return true
}

// truncate shortens the file to size, zeroing what it cut from the last
// chunk kept and unmapping the chunks past it.
func (f *memFile) truncate(size int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if size >= f.size {
		return
	}
	keep := (size + memChunk - 1) / memChunk
	for _, c := range f.chunks[keep:] {
		_ = syscall.Munmap(c)
	}
	f.chunks = f.chunks[:keep]
	if r := size % memChunk; r > 0 {
		clear(f.chunks[keep-1][r:])
	}
	f.size = size
}

// cptr is memory SQLite passes as a uintptr (C memory, outside the Go heap)
// as a pointer.
func cptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
