package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	n := newFixtureNode(t)
	srv := serve(t, n, fixtureConfig())
	for _, line := range strings.Split(os.Getenv("EXPLORE"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		req, _ := http.NewRequest("GET", srv.URL+f[0], nil)
		for _, h := range f[1:] {
			k, v, _ := strings.Cut(h, "=")
			if k == "Host" {
				req.Host = v
			} else if k == "Method" {
				req.Method = v
			} else {
				req.Header.Set(k, strings.ReplaceAll(v, "_", " "))
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("=== %s\n%d\n", line, resp.StatusCode)
		for k, v := range resp.Header {
			fmt.Printf("%s: %s\n", k, v)
		}
		if len(body) > 300 {
			body = body[:300]
		}
		fmt.Printf("%q\n", body)
	}
}
