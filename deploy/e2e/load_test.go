//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxLoad bounds every load loop: it stops by itself even if the test
// forgets it.
const maxLoad = 12 * time.Minute

// load runs one operation at a fixed rate, each in its own goroutine (at
// most 64 at once), and counts how they end.
type load struct {
	mu     sync.Mutex
	ok     int
	failed int
	errs   []string // the first failures, with their time

	stopCh chan struct{}
	done   sync.WaitGroup
}

// startLoad calls op perSecond times a second until stop, or maxLoad.
func startLoad(perSecond int, op func(n int) error) *load {
	l := &load{stopCh: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		limit := time.After(maxLoad)
		slots := make(chan struct{}, 64)
		for n := 0; ; n++ {
			select {
			case <-l.stopCh:
				return
			case <-limit:
				return
			case <-tick.C:
			}
			slots <- struct{}{}
			l.done.Add(1)
			go func() {
				defer func() { <-slots; l.done.Done() }()
				err := op(n)
				l.mu.Lock()
				defer l.mu.Unlock()
				if err == nil {
					l.ok++
					return
				}
				l.failed++
				if len(l.errs) < 10 {
					l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
				}
			}()
		}
	}()
	return l
}

// counts returns the operations ended so far.
func (l *load) counts() (ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.failed
}

func (l *load) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// stop ends the load and waits for the operations in flight.
func (l *load) stop() {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	l.done.Wait()
}

// step is one window of a load: what ended between two marks.
type step struct {
	l          *load
	ok, failed int
}

func (l *load) mark() step {
	ok, failed := l.counts()
	return step{l: l, ok: ok, failed: failed}
}

// since returns what ended since the mark.
func (s step) since() (ok, failed int) {
	ok, failed = s.l.counts()
	return ok - s.ok, failed - s.failed
}

// acked records the CIDs whose add the cluster acknowledged.
type acked struct {
	mu   sync.Mutex
	cids []string
}

func (a *acked) add(c string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cids = append(a.cids, c)
}

func (a *acked) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.cids...)
}

// addThroughLB adds content through the load balancer's REST API, as
// ipfs-cluster-ctl add does, and returns the root CID the cluster
// acknowledged.
func (s *stack) addThroughLB(name string, content []byte, rmin, rmax int) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return "", err
	}
	fw.Write(content)
	mw.Close()
	url := fmt.Sprintf("http://127.0.0.1:9094/add?replication-min=%d&replication-max=%d&name=%s", rmin, rmax, name)
	req, err := http.NewRequest(http.MethodPost, url, &body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	user, password, _ := strings.Cut(s.cred, ":")
	req.SetBasicAuth(user, password)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("add %s: %s %s", name, resp.Status, bytes.TrimSpace(raw))
	}
	var root string
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		var out struct {
			Cid *string `json:"cid"`
		}
		if err := dec.Decode(&out); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("add %s: %v in %q", name, err, raw)
		}
		if out.Cid != nil {
			root = *out.Cid
		}
	}
	if root == "" {
		return "", fmt.Errorf("add %s: no CID in %q", name, raw)
	}
	return root, nil
}
