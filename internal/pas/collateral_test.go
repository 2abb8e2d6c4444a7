package pas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
)

// fakeVendor serves documents by URL and counts fetches.
type fakeVendor struct {
	mu    sync.Mutex
	docs  map[string][]byte
	fail  bool
	count int
}

func (f *fakeVendor) Get(url string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.fail {
		return nil, errors.New("503 Service Unavailable")
	}
	d, ok := f.docs[url]
	if !ok {
		return nil, errors.New("404 Not Found")
	}
	return d, nil
}

func (f *fakeVendor) fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

const (
	vcekURL = "https://kdsintf.amd.com/vcek/v1/Milan/abcd?blSPL=3"
	crlURL  = "https://kdsintf.amd.com/vcek/v1/Milan/crl"
)

func TestCollateralCacheSQLite(t *testing.T) {
	dir := t.TempDir()
	open := func() pas.Store {
		s, err := pas.OpenStore(context.Background(), dir, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testCollateral(t, open)
}

// testCollateral runs the cache's behaviour over stores from open: two
// calls of open are two replicas (or a restart) sharing the cache.
func testCollateral(t *testing.T, open func() pas.Store) {
	st := open()
	defer st.Close()
	clk := &clock{}
	vendor := &fakeVendor{docs: map[string][]byte{vcekURL: []byte("vcek-1"), crlURL: []byte("crl-1")}}
	c := &pas.CollateralCache{Store: st, Fetch: vendor, MaxAge: time.Hour, MinInterval: time.Minute, Burst: 1, Now: clk.now}
	get := func(c *pas.CollateralCache, url, want string) {
		t.Helper()
		b, err := c.Get(url)
		if err != nil || string(b) != want {
			t.Fatalf("Get %s = %q, %v; want %q", url, b, err, want)
		}
	}
	get(c, vcekURL, "vcek-1")
	get(c, vcekURL, "vcek-1")
	if n := vendor.fetches(); n != 1 {
		t.Fatalf("%d fetches for a fresh copy, want 1", n)
	}
	// Another document within MinInterval of the last fetch: refused,
	// nothing cached to fall back on.
	if _, err := c.Get(crlURL); !errors.Is(err, pas.ErrCollateralRateLimited) {
		t.Fatalf("second fetch within the interval: %v, want ErrCollateralRateLimited", err)
	}
	clk.advance(2 * time.Minute)
	get(c, crlURL, "crl-1")

	// Another replica (or a restart) shares the cache: no fetch.
	st2 := open()
	defer st2.Close()
	other := &pas.CollateralCache{Store: st2, Fetch: vendor, MaxAge: time.Hour, MinInterval: time.Minute, Burst: 1, Now: clk.now}
	get(other, vcekURL, "vcek-1")
	if n := vendor.fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the rate-limited one never went upstream, the other replica fetched nothing)", n)
	}

	// Stale: fetched again, and the new copy replaces the old.
	clk.advance(2 * time.Hour)
	vendor.docs[vcekURL] = []byte("vcek-2")
	get(c, vcekURL, "vcek-2")
	get(other, vcekURL, "vcek-2")

	// Vendor down: the stale copy is served, and reported stale.
	clk.advance(2 * time.Hour)
	vendor.fail = true
	get(c, crlURL, "crl-1")
	if _, err := c.Get("https://kdsintf.amd.com/never-fetched"); err == nil || !strings.Contains(err.Error(), "rate-limited") && !strings.Contains(err.Error(), "503") {
		t.Fatalf("an uncached document with the vendor down: %v", err)
	}
	status, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 2 || status[0].URL != crlURL || status[0].Fresh || status[1].Fresh || status[0].Age < 4*time.Hour {
		t.Fatalf("status %+v: want both stale, the CRL oldest", status)
	}

	// A document too big to be collateral is refused, not cached.
	clk.advance(2 * time.Minute)
	vendor.fail = false
	vendor.docs["https://big"] = bytes.Repeat([]byte{1}, pas.MaxCollateralBytes+1)
	if _, err := c.Get("https://big"); err == nil {
		t.Fatal("an oversized document was served")
	}
	if _, _, ok, _ := st.GetCollateral(context.Background(), "https://big"); ok {
		t.Fatal("an oversized document was cached")
	}
}

// TestCollateralBurst: Burst fetches go upstream at once, the next only
// after MinInterval.
func TestCollateralBurst(t *testing.T) {
	st, err := pas.OpenStore(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{}
	vendor := &fakeVendor{docs: map[string][]byte{}}
	for i := range 5 {
		vendor.docs[fmt.Sprintf("https://doc/%d", i)] = []byte{byte(i)}
	}
	c := &pas.CollateralCache{Store: st, Fetch: vendor, MinInterval: time.Minute, Burst: 3, Now: clk.now}
	for i, want := range []error{nil, nil, nil, pas.ErrCollateralRateLimited} {
		if _, err := c.Get(fmt.Sprintf("https://doc/%d", i)); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Fatalf("fetch %d at once: %v, want %v", i, err, want)
		}
	}
	clk.advance(time.Minute)
	if _, err := c.Get("https://doc/3"); err != nil {
		t.Fatalf("a fetch a MinInterval later: %v", err)
	}
	if _, err := c.Get("https://doc/4"); !errors.Is(err, pas.ErrCollateralRateLimited) {
		t.Fatalf("a second fetch a MinInterval later: %v, want rate-limited", err)
	}
}

// TestCollateralEndpoint: the service reports its cache's freshness.
func TestCollateralEndpoint(t *testing.T) {
	vendor := &fakeVendor{docs: map[string][]byte{vcekURL: []byte("vcek")}}
	cache := &pas.CollateralCache{Fetch: vendor}
	srv := pastest.Start(t, pastest.Options{Config: pas.Config{Collateral: cache}})
	if _, err := cache.Get(vcekURL); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.HTTP.Client().Get(srv.URL + "/v1/collateral")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status []pas.CollateralStatus
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	if len(status) != 1 || status[0].URL != vcekURL || !status[0].Fresh || time.Since(status[0].Fetched) > time.Minute {
		t.Fatalf("status %+v", status)
	}
}
