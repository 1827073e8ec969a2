package restapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func batchCid(i int) cid.Cid {
	h, _ := mh.Sum([]byte(fmt.Sprint("batch ", i)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

// Every line gets its answer, in order: good lines are pinned with their
// options, a bad line fails alone with a 400 and changes nothing.
func TestPinBatch(t *testing.T) {
	srv, fc := newTestAPI(t)
	lines := []string{
		batchCid(1).String(),
		``,
		fmt.Sprintf(`{"cid":%q,"name":"two","replication_factor_min":1,"replication_factor_max":2,"metadata":{"k":"v"}}`, batchCid(2)),
		`not-a-cid`,
		fmt.Sprintf(`{"cid":%q,"mode":"sideways"}`, batchCid(3)),
		fmt.Sprintf(`{"cid":%q,"unknown_field":1}`, batchCid(4)),
		fmt.Sprintf(`{"cid":%q,"expire_at":%q}`, batchCid(5), time.Now().Add(-time.Hour).Format(time.RFC3339)),
		batchCid(6).String(),
	}
	resp, err := http.Post(srv.URL+"/pins/batch", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got []batchResult
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var r batchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("answer line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		t.Fatalf("stream error %q", e)
	}
	wantOK := map[int]bool{1: true, 3: true, 8: true}
	wantBad := map[int]bool{4: true, 5: true, 6: true, 7: true}
	if len(got) != len(wantOK)+len(wantBad) {
		t.Fatalf("%d answers, want %d: %+v", len(got), len(wantOK)+len(wantBad), got)
	}
	for i, r := range got {
		if i > 0 && r.Line <= got[i-1].Line {
			t.Fatalf("answers out of order: %+v", got)
		}
		switch {
		case wantOK[r.Line] && (r.Error != "" || len(r.Allocations) == 0):
			t.Fatalf("line %d: %+v, want pinned", r.Line, r)
		case wantBad[r.Line] && (r.Code != http.StatusBadRequest || r.Error == ""):
			t.Fatalf("line %d: %+v, want a 400", r.Line, r)
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.pins) != 3 {
		t.Fatalf("%d pins stored, want 3", len(fc.pins))
	}
	if p := fc.pins[batchCid(2)]; p.Name != "two" || p.ReplicationMax != 2 || p.Metadata["k"] != "v" {
		t.Fatalf("pin of line 3 = %+v, want its options", p)
	}
}

func FuzzPinBatchLine(f *testing.F) {
	f.Add([]byte(batchCid(1).String()))
	f.Add([]byte(`{"cid":"bafkqaaa","name":"n","mode":"direct","metadata":{"a":"b"}}`))
	f.Add([]byte(`{"cid":1}`))
	f.Add([]byte(`{`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) == 0 {
			return
		}
		l := parseBatchLine(1, line, now)
		if l.err == nil && !l.pin.Cid.Defined() {
			t.Fatalf("line %q parsed without a CID", line)
		}
		if l.err != nil && statusOf(l.err) != http.StatusBadRequest {
			t.Fatalf("line %q: %v answers %d, want 400", line, l.err, statusOf(l.err))
		}
	})
}
