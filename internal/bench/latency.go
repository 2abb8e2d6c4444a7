package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	shamirsplit "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/policy"
)

// shamirJob is the demo's computation as a benchmark job: oscar uploads
// the program, three share holders one share each, dave runs the program
// and reads the secret.
type shamirJob struct {
	sys     *system
	ids     map[string]*identity.Identity
	parties []party
	progs   []program
}

var shareHolders = []string{"alice", "bob", "carol"}

func newShamirJob(sys *system) (*shamirJob, error) {
	j := &shamirJob{sys: sys, ids: map[string]*identity.Identity{}}
	caps := map[string]capability.Set{
		"oscar": {shamir.Path: capability.Write},
		"dave":  {shamir.Path: capability.Execute, "/output/": capability.Read},
	}
	for i, n := range shareHolders {
		caps[n] = capability.Set{fmt.Sprintf("/input/shamir-%d.dat", i): capability.Write}
	}
	for _, n := range []string{"oscar", "alice", "bob", "carol", "dave"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		j.ids[n] = id
		j.parties = append(j.parties, party{id, caps[n]})
	}
	sum := sha256.Sum256(shamir.Wasm)
	j.progs = []program{{path: shamir.Path, sha256: hex.EncodeToString(sum[:]),
		caps: capability.Set{"/input/": capability.Read, "/output/": capability.Write}}}
	return j, nil
}

// run does the whole job against the enclave of pol at addr: every party
// dials and checks the enclave, the shares (and, if withProgram, the
// program) are uploaded, dave runs the program and reads the secret back.
func (j *shamirJob) run(ctx context.Context, pol *policy.Policy, addr string, withProgram bool) error {
	secret := []byte("the benchmark's secret")
	shares, err := shamirsplit.Split(secret, len(shareHolders), len(shareHolders), nil)
	if err != nil {
		return err
	}
	sessions := map[string]*client.Session{}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	for n, id := range j.ids {
		s, err := client.Dial(ctx, pol, id, client.WithAddr(addr))
		if err != nil {
			return fmt.Errorf("%s dialing: %w", n, err)
		}
		sessions[n] = s
	}
	if withProgram {
		if _, err := sessions["oscar"].Put(ctx, shamir.Path, bytes.NewReader(shamir.Wasm)); err != nil {
			return err
		}
	}
	for i, n := range shareHolders {
		if _, err := sessions[n].Put(ctx, fmt.Sprintf("/input/shamir-%d.dat", i), bytes.NewReader(shares[i])); err != nil {
			return err
		}
	}
	if _, err := sessions["dave"].Run(ctx, shamir.Path); err != nil {
		return err
	}
	var out bytes.Buffer
	if _, err := sessions["dave"].Get(ctx, "/output/shamir.dat", &out); err != nil {
		return err
	}
	if !bytes.Equal(out.Bytes(), secret) {
		return fmt.Errorf("the job computed %q, not the secret", out.Bytes())
	}
	return nil
}

// latency measures cold starts, whole jobs cold and warm, attestation
// round trips and enclave dials, each against its baseline.
func (b *bench) latency(ctx context.Context) (*section, error) {
	sys, err := b.system(ctx)
	if err != nil {
		return nil, err
	}
	job, err := newShamirJob(sys)
	if err != nil {
		return nil, err
	}
	coldRuns := b.runs
	fastRuns := 4 * b.runs

	// Cold: a new host, runtime and attestation for every job.
	var starts, cold []time.Duration
	for i := range coldRuns {
		b.logf("latency: cold job %d", i+1)
		addr, err := deployment.FreeAddr()
		if err != nil {
			return nil, err
		}
		pol, file, err := sys.writePolicy(fmt.Sprintf("cold-%d", i), addr, job.parties, job.progs)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		host, ready, err := sys.startHost(ctx, fmt.Sprintf("host-cold-%d", i), addr, file)
		if err != nil {
			return nil, err
		}
		err = job.run(ctx, pol, addr, true)
		took := time.Since(t0)
		host.Stop()
		if err != nil {
			return nil, fmt.Errorf("cold job: %w", err)
		}
		starts, cold = append(starts, ready), append(cold, took)
	}

	// Warm: one enclave, the program in place and compiled.
	addr, err := deployment.FreeAddr()
	if err != nil {
		return nil, err
	}
	pol, file, err := sys.writePolicy("warm", addr, job.parties, job.progs)
	if err != nil {
		return nil, err
	}
	host, _, err := sys.startHost(ctx, "host-warm", addr, file)
	if err != nil {
		return nil, err
	}
	defer host.Stop()
	if err := job.run(ctx, pol, addr, true); err != nil {
		return nil, fmt.Errorf("first warm job: %w", err)
	}
	var warm []time.Duration
	for range fastRuns {
		d, err := timed(func() error { return job.run(ctx, pol, addr, false) })
		if err != nil {
			return nil, fmt.Errorf("warm job: %w", err)
		}
		warm = append(warm, d)
	}

	// One client's dial: TCP, TLS 1.3 with client certificate, the
	// enclave certificate checked against the policy and the policy
	// compared; against a plain TLS 1.3 handshake on the same loopback.
	plain, err := startPlain()
	if err != nil {
		return nil, err
	}
	defer plain.close()
	var dials, handshakes []time.Duration
	for range fastRuns {
		d, err := timed(func() error {
			s, err := client.Dial(ctx, pol, job.ids["alice"], client.WithAddr(addr))
			if err == nil {
				s.Close()
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		dials = append(dials, d)
		if d, err = timed(func() error {
			c, err := plain.dial(ctx)
			if err == nil {
				err = c.HandshakeContext(ctx)
				c.Close()
			}
			return err
		}); err != nil {
			return nil, err
		}
		handshakes = append(handshakes, d)
	}

	rounds, pings, err := b.attestRoundTrips(ctx, sys, pol, fastRuns)
	if err != nil {
		return nil, err
	}

	st := map[string]stat{"start": summarize(starts), "cold": summarize(cold), "warm": summarize(warm),
		"dial": summarize(dials), "handshake": summarize(handshakes), "attest": summarize(rounds), "ping": summarize(pings)}
	var t strings.Builder
	fmt.Fprintf(&t, "Times of whole operations through real processes on loopback, median (min–max); cold figures over %d runs, the others over %d. "+
		"The job is the demo's: five parties each dial and check the enclave, three upload a Shamir share, the program owner uploads "+
		"the program (cold only: warm, it is in place and compiled), the reader runs it and reads the secret.\n\n", coldRuns, fastRuns)
	fmt.Fprintln(&t, "| operation | time | baseline | baseline time | ratio |")
	fmt.Fprintln(&t, "|---|---:|---|---:|---:|")
	row := func(name, key, base, baseKey string) {
		if baseKey == "" {
			fmt.Fprintf(&t, "| %s | %s | %s | | |\n", name, st[key], base)
			return
		}
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %.1f× |\n", name, st[key], base, st[baseKey], st[key].med/st[baseKey].med)
	}
	row("enclave cold start: launch → attested → ready", "start", "—", "")
	row("small job, cold (cold start included)", "cold", "same job, warm", "warm")
	row("small job, warm", "warm", "—", "")
	row("attestation round trip: nonce → evidence → verify → certificate", "attest", "one HTTPS request to the same service", "ping")
	row("client dial: TLS 1.3, enclave and policy checked", "dial", "plain TLS 1.3 handshake", "handshake")
	plot := barChart{title: "Latency (log scale, lower is better)", unit: "milliseconds", log: true,
		series: []string{"Truce", "baseline"},
		groups: []barGroup{
			{label: "cold start", values: []float64{st["start"].med * 1e3, 0}},
			{label: "small job cold / warm", values: []float64{st["cold"].med * 1e3, st["warm"].med * 1e3}},
			{label: "attestation / HTTPS", values: []float64{st["attest"].med * 1e3, st["ping"].med * 1e3}},
			{label: "dial / TLS handshake", values: []float64{st["dial"].med * 1e3, st["handshake"].med * 1e3}},
		}}
	return &section{title: "Latency: cold start, whole jobs, attestation", body: t.String(),
		plots: []namedPlot{{"latency.svg", "latency of a cold start, a small job, an attestation and a dial against their baselines", plot.svg()}}}, nil
}

// attestRoundTrips does n attestations as a runtime does, against the
// running attestation service: fresh key, nonce, sim evidence binding key,
// policy and nonce, the service's checks, issuance and its logged record.
// The baseline is one GET /healthz over the same connection pool.
func (b *bench) attestRoundTrips(ctx context.Context, sys *system, pol *policy.Policy, n int) (rounds, pings []time.Duration, err error) {
	dev, err := simprovider.LoadDevice(sys.pas.DeviceKey)
	if err != nil {
		return nil, nil, err
	}
	prov := simprovider.NewProvider(dev, sys.bin.Measurement)
	ca, err := paswire.ParseChainPEM(sys.pas.CACert)
	if err != nil {
		return nil, nil, err
	}
	cred, err := pas.ReadCredential(sys.credFile)
	if err != nil {
		return nil, nil, err
	}
	c := &paswire.Client{URL: sys.pas.URL, CA: ca[0], Credential: cred}
	roots := x509.NewCertPool()
	roots.AddCert(ca[0])
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}}}
	c.HTTP = hc
	for range n {
		d, err := timed(func() error {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			nonce, err := c.Nonce(ctx)
			if err != nil {
				return err
			}
			req, err := paswire.NewRequest(ctx, prov, key, pol.Bytes(), nonce, nil)
			if err != nil {
				return err
			}
			_, err = c.Attest(ctx, req)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("attestation round trip: %w", err)
		}
		rounds = append(rounds, d)
		if d, err = timed(func() error {
			resp, err := hc.Get(sys.pas.URL + "/healthz")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		}); err != nil {
			return nil, nil, err
		}
		pings = append(pings, d)
	}
	return rounds, pings, nil
}
