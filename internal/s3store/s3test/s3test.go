// Package s3test runs a real S3 server for tests: versitygw (built by
// `make tools`) with its posix backend in a temporary directory, behind a
// proxy on 127.0.0.1 that counts the requests by S3 operation and lets a
// test hold or fail them.
//
// versitygw listens on a unix socket in the test's own directory and the
// proxy on 127.0.0.1:0, so no two tests race for a port.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The server's root account. Tests hand these to the code under test
// through the environment (SetEnv, Env), as the SDK's default chain reads
// them in production.
const (
	AccessKey = "flotilla-test"
	SecretKey = "flotilla-test-secret"
	Region    = "us-east-1"
)

// Binary returns the path of the versitygw binary: $FLOTILLA_VERSITYGW, or
// .tools/bin/versitygw. When it is missing the test fails in CI (CI set)
// and is skipped elsewhere, with the command that builds it.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FLOTILLA_VERSITYGW"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", ".tools", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("versitygw binary not found at %s: run `make tools` (or set FLOTILLA_VERSITYGW)", p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipped outside CI")
	}
	return p
}

// Server is a running versitygw.
type Server struct {
	// Endpoint is the proxy's URL (path-style addressing only).
	Endpoint string
	// Bucket exists from the start.
	Bucket string
	// Dir is the posix backend's root: an object is the file
	// Dir/<bucket>/<key>.
	Dir string

	mu     sync.Mutex
	counts map[string]int                              // requests by operation; guarded by mu
	hook   func(op string, r *http.Request) (fail int) // guarded by mu
}

// Start runs versitygw in a temporary directory with a bucket made, and
// stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	// A unix socket path must stay under 108 bytes; t.TempDir's can be
	// longer.
	sockDir, err := os.MkdirTemp("", "vgw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s3.sock")
	s := &Server{Bucket: "flotilla-test", Dir: t.TempDir(), counts: map[string]int{}}

	var out bytes.Buffer
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", sock, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 64,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "versitygw"})
			r.Out.Host = r.In.Host // the host the client signed
		},
		Transport: transport,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.handler(proxy)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); transport.CloseIdleConnections() })
	s.Endpoint = "http://" + ln.Addr().String()

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw not listening after 30s: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	s.CreateBucket(t, s.Bucket)
	s.Reset()
	return s
}

// Client returns an S3 client of the server's root account, for a test to
// look at or tamper with what the code under test stored.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		UsePathStyle: true,
	})
}

// CreateBucket makes a bucket.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Env is the environment that gives the SDK's default chain the server's
// credentials and region, and keeps it from reading the machine's own
// AWS files or asking for an instance role.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv sets Env in the test's own process for the test's duration.
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// ObjectPath is the file that holds an object.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}

// Count returns how many requests of an operation (GetObject, PutObject,
// UploadPart, ListObjectsV2, ...) the server got since the last Reset.
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Total returns how many requests the server got since the last Reset.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

// Counts returns the requests by operation since the last Reset.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for op, n := range s.counts {
		out[op] = n
	}
	return out
}

// Reset zeroes the counts.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
}

// Intercept sets a function that sees each request before it is
// forwarded (after it is counted): it may block to hold the request, and
// a status it returns (non-zero) is answered instead of forwarding. nil
// removes it.
func (s *Server) Intercept(fn func(op string, r *http.Request) (fail int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

func (s *Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := Operation(r)
		s.mu.Lock()
		s.counts[op]++
		hook := s.hook
		s.mu.Unlock()
		if hook != nil {
			if code := hook(op, r); code != 0 {
				http.Error(w, fmt.Sprintf("s3test: %s failed by the test", op), code)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Operation names the S3 operation of a path-style request.
func Operation(r *http.Request) string {
	q := r.URL.Query()
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch r.Method {
	case http.MethodHead:
		if key == "" {
			return "HeadBucket"
		}
		return "HeadObject"
	case http.MethodGet:
		switch {
		case key == "" && has("uploads"):
			return "ListMultipartUploads"
		case key == "" && q.Get("list-type") == "2":
			return "ListObjectsV2"
		case key == "":
			return "ListObjects"
		case has("uploadId"):
			return "ListParts"
		}
		return "GetObject"
	case http.MethodPut:
		switch {
		case key == "":
			return "CreateBucket"
		case has("uploadId"):
			return "UploadPart"
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("delete"):
			return "DeleteObjects"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload"
		case key == "":
			return "DeleteBucket"
		}
		return "DeleteObject"
	}
	return r.Method + " " + r.URL.Path
}
