package pas

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the nonce limits in Config.
const (
	// DefaultAnonymousRate is how many nonces a second one anonymous
	// client address may get, on average.
	DefaultAnonymousRate = 5
	// DefaultAnonymousBurst is how many nonces one anonymous client
	// address may get at once.
	DefaultAnonymousBurst = 20
	// DefaultAnonymousTotalRate is how many nonces a second all anonymous
	// callers together may get, on average.
	DefaultAnonymousTotalRate = 50
	// DefaultHostRate is how many nonces a second one authenticated host
	// may get, on average.
	DefaultHostRate = 20
	// DefaultHostBurst is how many nonces one authenticated host may get
	// at once.
	DefaultHostBurst = 100
	// maxLimiterKeys bounds the client addresses a limiter tracks.
	maxLimiterKeys = 1 << 14
)

// bucket is a token bucket: tokens at t.
type bucket struct {
	tokens float64
	t      time.Time
}

// limiter is a set of token buckets by key (a client address or a host
// name), each refilled at rate a second up to burst. It tracks at most
// maxKeys keys: when full it forgets the buckets that have refilled
// (equivalent to absent ones), and refuses new keys if none has.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	maxKeys int
	m       map[string]*bucket
}

func newLimiter(rate float64, burst int, maxKeys int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, m: map[string]*bucket{}}
}

// allow takes one token from key's bucket at now. If none is left it
// returns false and how long until one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.maxKeys {
			l.sweep(now)
			if len(l.m) >= l.maxKeys {
				// Too many clients at once: the caller waits until some
				// bucket has refilled.
				return false, l.refill(1)
			}
		}
		b = &bucket{tokens: l.burst, t: now}
		l.m[key] = b
	}
	if d := now.Sub(b.t); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.t = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.refill(1 - b.tokens)
}

// refill is how long the bucket takes to gain tokens.
func (l *limiter) refill(tokens float64) time.Duration {
	if l.rate <= 0 {
		return time.Hour
	}
	return time.Duration(tokens / l.rate * float64(time.Second))
}

// sweep forgets the buckets full again at now.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.t).Seconds()*l.rate >= l.burst {
			delete(l.m, k)
		}
	}
}

// clientKey is the address a caller's anonymous limit is kept under: its
// IPv4 address, or its IPv6 /64 (one subscriber's usual allocation, so
// that walking through the addresses of one network earns nothing).
func clientKey(remoteAddr string) string {
	h, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		h = remoteAddr
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return h
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
