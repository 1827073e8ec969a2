package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:8080/ipfs/bafy
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.43ms    2.10ms  40.00ms   90.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  Latency Distribution
     50%    1.43ms
     75%    2.00ms
     90%    3.00ms
     99%   12.50ms
  201140 requests in 10.00s, 250.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  20114.00
Transfer/sec:     25.00MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{RPS: 20114, BPS: 25 << 20, P50: 1430 * time.Microsecond, P99: 12500 * time.Microsecond, Errors: 3}
	if r != want {
		t.Errorf("ParseWrk = %+v, want %+v", r, want)
	}
	if _, err := ParseWrk("garbage"); err == nil {
		t.Error("ParseWrk(garbage): no error")
	}
}

func TestGoLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "0123456789")
	}))
	defer srv.Close()
	r, err := Go{}.Load(context.Background(), srv.URL, 2, 1, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.RPS <= 0 || r.BPS < 10*r.RPS*0.9 || r.P50 <= 0 || r.P99 < r.P50 || r.Errors != 0 {
		t.Errorf("Go.Load = %+v", r)
	}
}
