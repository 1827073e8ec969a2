package s3bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
)

// S3 Standard list prices in us-east-1, in dollars per request
// (https://aws.amazon.com/s3/pricing/): PUT, COPY, POST and LIST requests
// $0.005 per 1,000; GET and all other requests $0.0004 per 1,000; DELETE
// and CANCEL requests free.
const (
	priceWrite = 0.005 / 1000
	priceRead  = 0.0004 / 1000
)

// Price is what one request of an S3 operation costs at list price.
// DeleteObjects is a POST: it is counted at the PUT price, to be safe.
func Price(op string) float64 {
	switch op {
	case "PutObject", "CopyObject", "UploadPart", "UploadPartCopy", "CreateMultipartUpload", "CompleteMultipartUpload",
		"ListObjectsV2", "ListObjects", "ListMultipartUploads", "ListParts", "DeleteObjects", "CreateBucket":
		return priceWrite
	case "DeleteObject", "AbortMultipartUpload", "DeleteBucket":
		return 0
	}
	return priceRead
}

// Dollars is what the measure's requests cost at list price.
func (m Measure) Dollars() float64 {
	var d float64
	for op, n := range m.Requests {
		d += float64(n) * Price(op)
	}
	return d
}

// Report writes the run's tables, in Markdown.
func (r *Results) Report(w io.Writer) {
	size := payload.Size(r.Size)
	fmt.Fprintf(w, "Added: %s as two files of %s (CIDv0, 256 KiB chunks): %s blocks; flotilla wrote %d packs.\n\n",
		size, payload.Size(r.Size/2), thousands(r.Blocks), r.Packs)

	fmt.Fprintln(w, "| workload | flotilla: S3 requests | go-ds-s3: S3 requests | go-ds-s3 ÷ flotilla | target |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- |")
	rows := []struct {
		name   string
		p      Pair
		target string
		note   string // after go-ds-s3's count
	}{
		{"add " + size, r.Add, "≥ 20×", ""},
		{"fresh peer: index the bucket", r.Rebuild, "", " (no index)"},
		{"cold read " + size + " (fresh peer)", r.ColdRead, "≥ 10×", ""},
		{"read it again", r.SecondRead, "", ""},
		{thousands(int64(r.Wants)) + " wants for blocks not stored", r.Wanted, "flotilla 0", ""},
		{"GC: unpin one file, mark, sweep" + compacted(r), r.GC, "", ""},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s | %s%s | %s | %s |\n", row.name, requests(row.p.Flotilla), requests(row.p.PerBlock), row.note, ratio(row.p), row.target)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | flotilla on S3 | go-ds-s3 | local disk (flatfs) | flotilla ÷ local disk | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	fmt.Fprintf(w, "| add %s | %s | %s | %s | %s | ≥ 0.50 |\n", size,
		speed(r.Add.Flotilla), speed(r.Add.PerBlock), speed(r.LocalAdd), speedRatio(r.Add.Flotilla, r.LocalAdd))
	fmt.Fprintf(w, "| cold read (local: first read, from the disk) | %s | %s | %s | %s | flotilla ≥ 100 MiB/s |\n",
		speed(r.ColdRead.Flotilla), speed(r.ColdRead.PerBlock), speed(r.LocalFirstRead), speedRatio(r.ColdRead.Flotilla, r.LocalFirstRead))
	fmt.Fprintf(w, "| read again (flotilla: its cache; local: the page cache) | %s | %s | %s | %s | ≥ 0.80 |\n",
		speed(r.SecondRead.Flotilla), speed(r.SecondRead.PerBlock), speed(r.LocalSecondRead), speedRatio(r.SecondRead.Flotilla, r.LocalSecondRead))
	fmt.Fprintf(w, "| %s wants | %s | %s | | | |\n", thousands(int64(r.Wants)), elapsed(r.Wanted.Flotilla), elapsed(r.Wanted.PerBlock))
	fmt.Fprintf(w, "| fresh peer: index the bucket (%d packs) | %s | (no index) | | | |\n", r.Packs, elapsed(r.Rebuild.Flotilla))
	fmt.Fprintf(w, "| GC | %s | %s | | | |\n", elapsed(r.GC.Flotilla), elapsed(r.GC.PerBlock))
	if r.IndexRebuild.Ran() {
		fmt.Fprintf(w, "| fresh peer: index %s blocks (%s packs; %s requests) | %s | (no index) | | | < 10 s |\n",
			thousands(int64(r.RebuildBlocks)), thousands(r.RebuildPacks), requests(r.IndexRebuild), elapsed(r.IndexRebuild))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each figure: wall time or MiB/s, and in brackets the CPU seconds of the benchmark process (stores, boxo, importer, the counting proxy; not the S3 server's).")

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| requests at S3 Standard list prices (us-east-1) | flotilla | go-ds-s3 |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", row.name, dollars(row.p.Flotilla), dollars(row.p.PerBlock))
	}
}

func compacted(r *Results) string {
	if r.Compact.Rewritten == 0 && r.Compact.Deleted == 0 {
		return " (flotilla: + compact)"
	}
	return fmt.Sprintf(" (flotilla: + compact: %d packs rewritten into %d, %d objects deleted, %.1f MiB reclaimed)",
		r.Compact.Rewritten, r.Compact.Written, r.Compact.Deleted, float64(r.Compact.ReclaimedBytes)/(1<<20))
}

// requests prints "total (Op n, Op n)", the largest first.
func requests(m Measure) string {
	if !m.Ran() {
		return "—"
	}
	if m.Total() == 0 {
		return "0"
	}
	ops := slices.SortedFunc(maps.Keys(m.Requests), func(a, b string) int {
		if d := m.Requests[b] - m.Requests[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		parts = append(parts, op+" "+thousands(int64(m.Requests[op])))
	}
	return fmt.Sprintf("**%s** (%s)", thousands(int64(m.Total())), strings.Join(parts, ", "))
}

// ratio is go-ds-s3's requests over flotilla's.
func ratio(p Pair) string {
	f, g := p.Flotilla.Total(), p.PerBlock.Total()
	switch {
	case !p.Flotilla.Ran() || !p.PerBlock.Ran():
		return ""
	case f == 0 && g == 0:
		return "="
	case f == 0:
		return "∞"
	case g == 0:
		return ""
	}
	return fmt.Sprintf("%.1f×", float64(g)/float64(f))
}

// speed prints MiB/s and the CPU seconds.
func speed(m Measure) string {
	if !m.Ran() || m.Bytes == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB/s (%.1f s)", m.MiBps(), m.CPU.Seconds())
}

func speedRatio(s3, local Measure) string {
	if s3.MiBps() == 0 || local.MiBps() == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", s3.MiBps()/local.MiBps())
}

func elapsed(m Measure) string {
	if !m.Ran() {
		return "—"
	}
	cpu := fmt.Sprintf(" (%.1f s)", m.CPU.Seconds())
	switch d := m.Elapsed; {
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) + cpu
	default:
		return fmt.Sprintf("%.1f s", d.Seconds()) + cpu
	}
}

func dollars(m Measure) string {
	if !m.Ran() {
		return "—"
	}
	return fmt.Sprintf("$%.6f", m.Dollars())
}

// thousands prints n with commas: 100,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
