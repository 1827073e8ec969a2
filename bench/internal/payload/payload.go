// Package payload makes the content benchmarks add: deterministic files
// (the same bytes in every run, incompressible, without repeated chunks)
// and sizes written as "1GiB".
package payload

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File returns the path of dir/name, a file of size bytes of ChaCha8
// output seeded with seed. It is written once and reused when it exists
// with the right size, so that a large test file costs its write only the
// first time.
func File(dir, name string, size int64, seed string) (string, error) {
	p := filepath.Join(dir, name)
	if st, err := os.Stat(p); err == nil && st.Size() == size {
		return p, nil
	}
	f, err := os.Create(p + ".tmp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.CopyN(f, NewReader(seed), size); err != nil {
		return "", err
	}
	// On disk before any workload reads it: a workload that syncs its
	// file system (flotilla's durable writes do) would otherwise pay for
	// writing the payload back too.
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(p+".tmp", p)
}

// NewReader returns an endless deterministic stream for seed: ChaCha8
// output, so nothing deduplicates and every run reads the same bytes.
func NewReader(seed string) io.Reader {
	var key [32]byte
	copy(key[:], seed)
	return rand.NewChaCha8(key)
}

// ParseSize reads "1GiB", "64MiB", "512KiB" or a plain byte count.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive byte count, e.g. 1GiB, 64MiB or 1048576")
	}
	return n * mult, nil
}

// Size prints n bytes the way ParseSize reads them, in the largest unit
// that divides it.
func Size(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}
