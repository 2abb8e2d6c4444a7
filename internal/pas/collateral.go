package pas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of CollateralCache.
const (
	DefaultCollateralMaxAge   = 24 * time.Hour
	DefaultCollateralInterval = time.Second
	// DefaultCollateralBurst is enough for the first verification of each
	// platform: Intel's TDX and SGX collateral is four documents.
	DefaultCollateralBurst = 8
	// MaxCollateralBytes bounds one cached document.
	MaxCollateralBytes = 1 << 20
)

// ErrCollateralRateLimited is returned by CollateralCache.Get for a
// document it holds no copy of when an upstream fetch would exceed the
// rate limit (Burst at once, then one per MinInterval).
var ErrCollateralRateLimited = errors.New("vendor collateral fetch rate-limited")

// Getter fetches a URL's body: the interface of the SEV-SNP verifier's
// Fetch (go-sev-guest's trust.HTTPSGetter).
type Getter interface {
	Get(url string) ([]byte, error)
}

// CollateralCache is a Getter that keeps vendor collateral (AMD KDS
// certificates, Intel PCS certificates, CRLs, TCB info) in the service's
// Store, so replicas share it and a restart does not fetch it again.
// A copy younger than MaxAge is served without fetching; an older one is
// fetched again (at most Burst upstream fetches at once, then one per
// MinInterval), and served stale when the fetch fails or is rate-limited
// (Status reports it). It
// never judges what it caches: verifiers check every document's signature
// and validity as if it had just been fetched.
type CollateralCache struct {
	// Store keeps the documents; required.
	Store Store
	// Fetch gets documents upstream; required.
	Fetch Getter
	// MaxAge is how long a copy is fresh; zero means
	// DefaultCollateralMaxAge.
	MaxAge time.Duration
	// MinInterval is the average least time between two upstream
	// fetches; zero means DefaultCollateralInterval.
	MinInterval time.Duration
	// Burst is how many upstream fetches may follow each other without
	// waiting MinInterval (one verification may need several documents);
	// zero means DefaultCollateralBurst.
	Burst int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per fetch and per stale copy served; nil
	// discards.
	Logger *slog.Logger

	mu sync.Mutex
	// next is when the rate limit's bucket is full again: each fetch
	// moves it MinInterval later, and a fetch may start while it is at
	// most (Burst-1)·MinInterval ahead of now.
	next time.Time
}

func (c *CollateralCache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *CollateralCache) maxAge() time.Duration {
	if c.MaxAge <= 0 {
		return DefaultCollateralMaxAge
	}
	return c.MaxAge
}

func (c *CollateralCache) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Get returns url's document: the stored copy while fresh, otherwise a
// fetched one (stored before it is returned), otherwise the stale copy.
func (c *CollateralCache) Get(url string) ([]byte, error) {
	ctx := context.Background()
	body, fetched, ok, err := c.Store.GetCollateral(ctx, url)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if ok && now.Sub(fetched) < c.maxAge() {
		return body, nil
	}
	stale := func(why error) ([]byte, error) {
		if !ok {
			return nil, why
		}
		c.log().Warn("serving stale vendor collateral", "url", url, "fetched", fetched.UTC(), "age", now.Sub(fetched).Round(time.Second), "why", why)
		return body, nil
	}
	if !c.takeFetch(now) {
		return stale(fmt.Errorf("%w: more than the allowed upstream fetches in a row, one per %v after that; retry shortly", ErrCollateralRateLimited, c.interval()))
	}
	fresh, err := c.Fetch.Get(url)
	if err == nil && len(fresh) > MaxCollateralBytes {
		err = fmt.Errorf("%s sent %d bytes, more than %d", url, len(fresh), MaxCollateralBytes)
	}
	if err != nil {
		return stale(fmt.Errorf("fetching vendor collateral: %w", err))
	}
	if err := c.Store.PutCollateral(ctx, url, fresh, now); err != nil {
		return nil, err
	}
	c.log().Info("vendor collateral fetched", "url", url, "bytes", len(fresh))
	return fresh, nil
}

func (c *CollateralCache) interval() time.Duration {
	if c.MinInterval <= 0 {
		return DefaultCollateralInterval
	}
	return c.MinInterval
}

// takeFetch reports whether an upstream fetch may start now.
func (c *CollateralCache) takeFetch(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	burst := c.Burst
	if burst <= 0 {
		burst = DefaultCollateralBurst
	}
	if c.next.Before(now) {
		c.next = now
	}
	if c.next.Sub(now) > time.Duration(burst-1)*c.interval() {
		return false
	}
	c.next = c.next.Add(c.interval())
	return true
}

// CollateralStatus is the freshness of one cached document.
type CollateralStatus struct {
	URL     string        `json:"url"`
	Fetched time.Time     `json:"fetched"`
	Age     time.Duration `json:"age_ns"`
	// Fresh is whether it is younger than MaxAge.
	Fresh bool `json:"fresh"`
}

// Status reports every cached document's age, oldest first.
func (c *CollateralCache) Status(ctx context.Context) ([]CollateralStatus, error) {
	now := c.now()
	var out []CollateralStatus
	err := c.Store.CollateralTimes(ctx, func(url string, fetched time.Time) error {
		age := now.Sub(fetched)
		out = append(out, CollateralStatus{URL: url, Fetched: fetched, Age: age, Fresh: age < c.maxAge()})
		return nil
	})
	return out, err
}
