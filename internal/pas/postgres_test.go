package pas_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// TestPostgres runs replicas of the service on one real PostgreSQL
// cluster (started once for all subtests; each has its own database).
func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	pg := pastest.StartPostgres(t)
	t.Run("start together", func(t *testing.T) { testStartTogether(t, pg.NewDatabase(t)) })
	t.Run("replicas", func(t *testing.T) { testReplicas(t, pg.NewDatabase(t)) })
	t.Run("nonces", func(t *testing.T) { testReplicaNonces(t, pg.NewDatabase(t)) })
	t.Run("tamper", func(t *testing.T) { testReplicaTamper(t, pg.NewDatabase(t)) })
	t.Run("kill", func(t *testing.T) { testReplicaKill(t, pg.NewDatabase(t)) })
	t.Run("single instance", func(t *testing.T) { testSingleInstanceAcrossStores(t, pg.NewDatabase(t)) })
	t.Run("collateral", func(t *testing.T) {
		database := pg.NewDatabase(t)
		testCollateral(t, func() pas.Store {
			s, err := pas.OpenStore(context.Background(), t.TempDir(), database)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// testStartTogether: replicas starting at the same moment on an empty
// database all open it (the tables are made once, under the lock).
func testStartTogether(t *testing.T, database string) {
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			s, err := pas.Open(pas.Config{Dir: dir, Database: database})
			if err != nil {
				t.Errorf("replica starting with others: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

// replicas starts n in-process services sharing one directory's CA and
// one database.
func replicas(t *testing.T, database string, n int, cfg pas.Config) []*pastest.Server {
	cfg.Database = database
	first := pastest.Start(t, pastest.Options{Config: cfg})
	out := []*pastest.Server{first}
	for range n - 1 {
		out = append(out, pastest.Start(t, pastest.Options{Dir: first.Dir, Config: cfg}))
	}
	return out
}

// testReplicas: two replicas under concurrent load, each attestation taking
// its nonce from one replica and attesting at the other. Every certificate
// is logged exactly once, in one chain that verifies.
func testReplicas(t *testing.T, database string) {
	rs := replicas(t, database, 2, pas.Config{})
	polBytes := rs[0].PolicyBytes(t, meas)
	prov := rs[0].Provider(meas)
	const workers, each = 8, 12
	var (
		mu       sync.Mutex
		received = map[string]bool{}
		wg       sync.WaitGroup
		failed   atomic.Value
	)
	ctx := context.Background()
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				from, to := rs[(w+i)%2], rs[(w+i+1)%2]
				n, err := from.Client().Nonce(ctx)
				if err == nil {
					var req paswire.AttestRequest
					req, err = paswire.NewRequest(ctx, prov, newKey(t), polBytes, n, nil)
					if err == nil {
						var chain []*x509.Certificate
						chain, err = to.Client().Attest(ctx, req)
						if err == nil {
							mu.Lock()
							if received[string(chain[0].Raw)] {
								err = errors.New("the same certificate issued twice")
							}
							received[string(chain[0].Raw)] = true
							mu.Unlock()
						}
					}
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	n, err := pas.VerifyLogIn(ctx, rs[0].Dir, database)
	if err != nil {
		t.Fatalf("log of two replicas: %v", err)
	}
	if n != workers*each {
		t.Fatalf("log has %d entries, want %d", n, workers*each)
	}
	serials := map[string]bool{}
	err = pas.ReadLogIn(ctx, rs[0].Dir, database, func(e pas.Entry) error {
		if !received[string(e.Cert)] {
			return errors.New("a logged certificate no client received")
		}
		if serials[e.Serial] {
			return errors.New("serial logged twice")
		}
		serials[e.Serial] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each replica extends the chain the other wrote.
	for _, r := range rs {
		if _, _, err := r.Attest(ctx, prov, polBytes); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := pas.VerifyLogIn(ctx, rs[0].Dir, database); err != nil || n != workers*each+2 {
		t.Fatalf("VerifyLogIn = %d, %v; want %d", n, err, workers*each+2)
	}
}

// testReplicaNonces: a nonce is single-use across replicas, even when both
// are offered it at once; the bound on outstanding nonces is shared, and
// expired nonces make room again.
func testReplicaNonces(t *testing.T, database string) {
	clk := &clock{}
	rs := replicas(t, database, 2, pas.Config{MaxNonces: 40, ReservedNonces: -1, Now: clk.now})
	polBytes := rs[0].PolicyBytes(t, meas)
	prov := rs[0].Provider(meas)
	ctx := context.Background()
	for i := range 10 {
		n, err := rs[i%2].Client().Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req, err := paswire.NewRequest(ctx, prov, newKey(t), polBytes, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Go(func() {
				_, err := r.Client().Attest(ctx, req)
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, paswire.ErrNonce):
					t.Errorf("replay refused with %v, want ErrNonce", err)
				}
			})
		}
		wg.Wait()
		if w := wins.Load(); w != 1 {
			t.Fatalf("one nonce offered to both replicas issued %d certificates, want 1", w)
		}
	}
	// 40 outstanding in all, whichever replica handed them out.
	for i := range 40 {
		if _, err := rs[i%2].Client().Nonce(ctx); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
	}
	for _, r := range rs {
		if _, err := r.Client().Nonce(ctx); !errors.Is(err, paswire.ErrBusy) {
			t.Fatalf("nonce past the shared bound: %v, want ErrBusy", err)
		}
	}
	clk.advance(pas.DefaultNonceLifetime + time.Second)
	for _, r := range rs {
		if _, err := r.Client().Nonce(ctx); err != nil {
			t.Fatalf("nonce once the others expired: %v", err)
		}
	}
}

// testReplicaTamper: a replica refuses to extend a chain another process
// changed, and a tampered log is refused at start.
func testReplicaTamper(t *testing.T, database string) {
	rs := replicas(t, database, 2, pas.Config{})
	polBytes := rs[0].PolicyBytes(t, meas)
	prov := rs[0].Provider(meas)
	ctx := context.Background()
	if _, _, err := rs[0].Attest(ctx, prov, polBytes); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs[1].Attest(ctx, prov, polBytes); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Entry 2 was written by replica 1; replica 0 has not seen it yet.
	if _, err := db.Exec(`UPDATE issuance SET time_ns = time_ns + 1 WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs[0].Attest(ctx, prov, polBytes); err == nil {
		t.Fatal("replica extended a tampered chain")
	}
	if _, err := rs[0].Service.Log().Append(ctx, time.Now(), "00", attest.Identity{}, nil); !errors.Is(err, pas.ErrLogTampered) {
		t.Fatalf("append after tampering: %v, want ErrLogTampered", err)
	}
	if _, err := pas.Open(pas.Config{Dir: rs[0].Dir, Database: database}); !errors.Is(err, pas.ErrLogTampered) {
		t.Fatalf("opening a tampered log: %v, want ErrLogTampered", err)
	}
	if _, err := pas.VerifyLogIn(ctx, rs[0].Dir, database); !errors.Is(err, pas.ErrLogTampered) {
		t.Fatalf("VerifyLogIn of a tampered log: %v, want ErrLogTampered", err)
	}
	if _, err := db.Exec(`UPDATE issuance SET time_ns = time_ns - 1 WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs[0].Attest(ctx, prov, polBytes); err != nil {
		t.Fatalf("after the row was restored: %v", err)
	}
}

// testReplicaKill: two replica processes under load; one is killed with
// SIGKILL mid-load. Every certificate any client received is logged once,
// the log verifies, and the survivor goes on issuing.
func testReplicaKill(t *testing.T, database string) {
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	urlA, a := startChild(t, dir, database)
	urlB, _ := startChild(t, dir, database)
	caPEM, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := paswire.ParseChainPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := simprovider.LoadDevice(filepath.Join(dir, pas.DeviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	prov := simprovider.NewProvider(dev, meas)
	polBytes := attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: caPEM, Service: urlA,
		Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: meas}}})
	clients := []*paswire.Client{{URL: urlA, CA: ca[0]}, {URL: urlB, CA: ca[0]}}

	const workers, killAfter, total = 8, 40, 120
	var (
		mu        sync.Mutex
		received  [][]byte
		count     atomic.Int64
		afterKill atomic.Int64
		killed    atomic.Bool
		wg        sync.WaitGroup
		ctx       = context.Background()
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; count.Load() < total; i++ {
				c := clients[(w+i)%2]
				if killed.Load() {
					c = clients[1]
				}
				n, err := c.Nonce(ctx)
				if err != nil {
					continue // the killed replica: go to the other
				}
				req, err := paswire.NewRequest(ctx, prov, newKey(t), polBytes, n, nil)
				if err != nil {
					t.Error(err)
					return
				}
				chain, err := c.Attest(ctx, req)
				if err != nil {
					continue
				}
				mu.Lock()
				received = append(received, chain[0].Raw)
				mu.Unlock()
				count.Add(1)
				if killed.Load() {
					afterKill.Add(1)
				}
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < killAfter && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	wg.Wait()
	if afterKill.Load() == 0 {
		t.Fatal("the surviving replica issued nothing after the kill")
	}
	logged := map[string]int{}
	n := 0
	err = pas.ReadLogIn(ctx, dir, database, func(e pas.Entry) error {
		logged[string(e.Cert)]++
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("log after a replica was killed: %v", err)
	}
	for i, der := range received {
		if logged[string(der)] != 1 {
			t.Fatalf("certificate %d received by a client is logged %d times, want once", i, logged[string(der)])
		}
	}
	if n < len(received) {
		t.Fatalf("%d logged < %d received", n, len(received))
	}
	t.Logf("replica killed after %d certificates; %d received in all, %d after the kill; %d logged",
		killAfter, len(received), afterKill.Load(), n)
}
