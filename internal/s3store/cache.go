package s3store

import (
	"container/list"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cache keeps ranges of packs on local disk, one file per range, named
// <pack id>.<offset in hex>, and evicts the least recently used once it
// holds more than max bytes. Recency is a file's modification time, which
// a hit refreshes, so a restart keeps both the files and their order.
//
// Files are written to a temporary name and renamed into place, and not
// synced: after a crash a file may be short or hold garbage, which costs a
// fetch, never wrong data, because every block read is hashed against its
// key (read.go), and a range found short is read again from S3.
type cache struct {
	dir string
	max int64

	mu    sync.Mutex
	lru   *list.List               // of *cacheFile, most recently used first; guarded by mu
	files map[string]*list.Element // by name; guarded by mu
	size  int64                    // bytes in files; guarded by mu
}

type cacheFile struct {
	name string
	size int64
	// checked holds the blocks of this file that hashed right since
	// this process wrote or first read it (offset → length): a later
	// read of one needs no hash. Lost with the process, so a file a
	// crash may have torn is checked again. Guarded by cache.mu.
	checked map[int64]int
	touched time.Time // when the file's mtime was last refreshed; guarded by cache.mu
}

// touchEvery bounds how often a hit refreshes a file's modification time
// (a metadata write): recency to the minute is all a restart needs.
const touchEvery = time.Minute

func openCache(dir string, max int64) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("s3store: cache: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("s3store: cache: %w", err)
	}
	type found struct {
		name  string
		size  int64
		mtime time.Time
	}
	var files []found
	for _, e := range entries {
		name := e.Name()
		info, err := e.Info()
		if err != nil || !e.Type().IsRegular() || !validCacheName(name) {
			os.RemoveAll(filepath.Join(dir, name)) // a temporary file a crash left, or a stranger
			continue
		}
		files = append(files, found{name, info.Size(), info.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mtime.After(files[j].mtime) })
	c := &cache{dir: dir, max: max, lru: list.New(), files: map[string]*list.Element{}}
	for _, f := range files {
		c.files[f.name] = c.lru.PushBack(&cacheFile{name: f.name, size: f.size})
		c.size += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

func cacheName(id packID, offset int64) string {
	return id.String() + "." + strconv.FormatInt(offset, 16)
}

func validCacheName(name string) bool {
	id, off, ok := strings.Cut(name, ".")
	if !ok {
		return false
	}
	if _, err := parsePackID(id); err != nil {
		return false
	}
	_, err := strconv.ParseInt(off, 16, 64)
	return err == nil
}

// read copies the cached bytes of a range from off (relative to the
// range's start) into p. It reports false when the range is not cached or
// its file is shorter than asked, and whether those bytes were checked
// against their block's hash before (see checked).
func (c *cache) read(name string, off int64, p []byte) (ok, checked bool) {
	now := time.Now()
	c.mu.Lock()
	el, ok := c.files[name]
	touch := false
	if ok {
		c.lru.MoveToFront(el)
		f := el.Value.(*cacheFile)
		checked = f.checked[off] == len(p)
		if touch = now.Sub(f.touched) >= touchEvery; touch {
			f.touched = now
		}
	}
	c.mu.Unlock()
	if !ok {
		return false, false
	}
	path := filepath.Join(c.dir, name)
	f, err := os.Open(path)
	if err != nil {
		c.drop(name)
		return false, false
	}
	defer f.Close()
	if _, err := f.ReadAt(p, off); err != nil {
		c.drop(name) // short: ranges are written whole, so this one is broken
		return false, false
	}
	if touch {
		os.Chtimes(path, now, now) // recency that a restart sees
	}
	return true, checked
}

// markChecked notes that the n bytes at off of a cached range hashed right
// as one block's (or a part of one, read and checked whole).
func (c *cache) markChecked(name string, off int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.files[name]; ok {
		f := el.Value.(*cacheFile)
		if f.checked == nil {
			f.checked = map[int64]int{}
		}
		f.checked[off] = n
	}
}

// has reports whether a range is cached.
func (c *cache) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.files[name]
	return ok
}

// write caches a range. Failures only cost a later fetch.
func (c *cache) write(name string, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	f, err := os.CreateTemp(c.dir, "tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), filepath.Join(c.dir, name)) != nil {
		os.Remove(f.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.files[name]; ok {
		c.size -= el.Value.(*cacheFile).size
		c.lru.Remove(el)
	}
	c.files[name] = c.lru.PushFront(&cacheFile{name: name, size: int64(len(data))})
	c.size += int64(len(data))
	c.evictLocked()
}

// drop removes a range, found bad or of a deleted pack.
func (c *cache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.files[name]; ok {
		c.removeLocked(el)
	}
}

// dropPack removes every cached range of a pack.
func (c *cache) dropPack(id packID) {
	prefix := id.String() + "."
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, el := range c.files {
		if strings.HasPrefix(name, prefix) {
			c.removeLocked(el)
		}
	}
}

func (c *cache) evictLocked() {
	for c.size > c.max {
		c.removeLocked(c.lru.Back())
	}
}

func (c *cache) removeLocked(el *list.Element) {
	f := el.Value.(*cacheFile)
	c.lru.Remove(el)
	delete(c.files, f.name)
	c.size -= f.size
	os.Remove(filepath.Join(c.dir, f.name))
}

// bytes is the cache's current size.
func (c *cache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
