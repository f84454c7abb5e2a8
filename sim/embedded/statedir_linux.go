package embedded

import "golang.org/x/sys/unix"

// shmDir is Linux's conventional memory-backed mount.
const shmDir = "/dev/shm"

// minMemFree is the free space memDir wants: the ledger of a 10-minute run
// at 1,000/s is about 0.2 GB, Kafka's log (five minutes kept) about 0.15 GB.
const minMemFree = 1 << 30

// memDir returns /dev/shm when it is a writable tmpfs with room to spare.
func memDir() (string, bool) {
	var fs unix.Statfs_t
	if err := unix.Statfs(shmDir, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		return "", false
	}
	if fs.Bavail*uint64(fs.Bsize) < minMemFree || unix.Access(shmDir, unix.W_OK) != nil {
		return "", false
	}
	return shmDir, true
}
