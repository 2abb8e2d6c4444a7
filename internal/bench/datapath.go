package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/trucetest"
)

// plainServer is the baseline of the data path: a Go TLS 1.3 server on the
// same loopback that, per connection, either swallows an upload ('u') and
// answers one byte, or sends the number of bytes asked for ('d' and a
// big-endian uint64).
type plainServer struct {
	ln  net.Listener
	cfg *tls.Config // the client's
}

func startPlain() (*plainServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plain"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"plain"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go servePlain(c)
		}
	}()
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &plainServer{ln: ln, cfg: &tls.Config{RootCAs: pool, ServerName: "plain", MinVersion: tls.VersionTLS13}}, nil
}

func servePlain(c net.Conn) {
	defer c.Close()
	var op [1]byte
	if _, err := io.ReadFull(c, op[:]); err != nil {
		return
	}
	switch op[0] {
	case 'u':
		io.Copy(io.Discard, c)
		c.Write([]byte{1})
	case 'd':
		var n [8]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		io.Copy(c, trucetest.Pattern(int64(binary.BigEndian.Uint64(n[:]))))
	}
}

func (p *plainServer) dial(ctx context.Context) (*tls.Conn, error) {
	d := tls.Dialer{Config: p.cfg}
	c, err := d.DialContext(ctx, "tcp", p.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// upload sends n bytes over a new connection and waits for the answer.
func (p *plainServer) upload(ctx context.Context, n int64) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'u'}); err != nil {
		return err
	}
	if _, err := io.Copy(c, trucetest.Pattern(n)); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	var one [1]byte
	_, err = io.ReadFull(c, one[:])
	return err
}

// download receives n bytes over a new connection.
func (p *plainServer) download(ctx context.Context, n int64) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	req := []byte{'d', 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(req[1:], uint64(n))
	if _, err := c.Write(req); err != nil {
		return err
	}
	got, err := io.Copy(io.Discard, c)
	if err == nil && got != n {
		err = fmt.Errorf("plain download: %d bytes of %d", got, n)
	}
	return err
}

func (p *plainServer) close() { p.ln.Close() }

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0), err
}

// dataPath measures uploads and downloads through host and runtime
// against the plain TLS baseline, alternating the two in every round so
// that both see the same machine.
func (b *bench) dataPath(ctx context.Context) (*section, error) {
	sys, err := b.system(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := identities("owner", 1)
	if err != nil {
		return nil, err
	}
	addr, err := deployment.FreeAddr()
	if err != nil {
		return nil, err
	}
	pol, file, err := sys.writePolicy("datapath", addr, []party{{ids[0], capability.Set{"/data/": capability.Read | capability.Write}}}, nil)
	if err != nil {
		return nil, err
	}
	host, _, err := sys.startHost(ctx, "host-datapath", addr, file)
	if err != nil {
		return nil, err
	}
	defer host.Stop()
	s, err := client.Dial(ctx, pol, ids[0], client.WithAddr(addr))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	plain, err := startPlain()
	if err != nil {
		return nil, err
	}
	defer plain.close()

	sizes := []int64{16 << 20, 256 << 20, 1 << 30}
	if b.quick {
		sizes = []int64{16 << 20}
	}
	type measured struct{ up, plainUp, down, plainDown stat }
	var rows []measured
	var t strings.Builder
	fmt.Fprintf(&t, "One file written (`PUT`) and read back (`GET`) by a principal through `truce host serve` and the runtime behind it "+
		"(the client's TLS 1.3 ends in the runtime; the host relays bytes), against the same bytes over one plain Go TLS 1.3 "+
		"connection to a sink on the same loopback. Throughput in MiB/s, median (min–max) of %d rounds; each round measures both, "+
		"one after the other. The ratio is Truce's median over plain TLS's (1.00 is as fast as plain TLS).\n\n", b.runs)
	fmt.Fprintln(&t, "| size | upload, Truce | upload, plain TLS | ratio | download, Truce | download, plain TLS | ratio |")
	fmt.Fprintln(&t, "|---:|---:|---:|---:|---:|---:|---:|")
	var groups []barGroup
	for _, n := range sizes {
		b.logf("datapath %s", bytesLabel(int(n)))
		var up, plainUp, down, plainDown []time.Duration
		path := fmt.Sprintf("/data/file-%d", n)
		for range b.runs {
			d, err := timed(func() error { _, err := s.Put(ctx, path, trucetest.Pattern(n)); return err })
			if err != nil {
				return nil, fmt.Errorf("uploading %s: %w", bytesLabel(int(n)), err)
			}
			up = append(up, d)
			if d, err = timed(func() error { return plain.upload(ctx, n) }); err != nil {
				return nil, err
			}
			plainUp = append(plainUp, d)
			d, err = timed(func() error {
				fi, err := s.Get(ctx, path, io.Discard)
				if err == nil && fi.Size != n {
					err = fmt.Errorf("read %d bytes of %d", fi.Size, n)
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("downloading %s: %w", bytesLabel(int(n)), err)
			}
			down = append(down, d)
			if d, err = timed(func() error { return plain.download(ctx, n) }); err != nil {
				return nil, err
			}
			plainDown = append(plainDown, d)
		}
		mib := float64(n) / (1 << 20)
		m := measured{rates(mib, "MiB/s", up), rates(mib, "MiB/s", plainUp), rates(mib, "MiB/s", down), rates(mib, "MiB/s", plainDown)}
		rows = append(rows, m)
		fmt.Fprintf(&t, "| %s | %s | %s | %.2f | %s | %s | %.2f |\n", bytesLabel(int(n)), m.up, m.plainUp, m.up.med/m.plainUp.med,
			m.down, m.plainDown, m.down.med/m.plainDown.med)
		groups = append(groups,
			barGroup{label: "upload " + bytesLabel(int(n)), values: []float64{m.up.med, m.plainUp.med}},
			barGroup{label: "download " + bytesLabel(int(n)), values: []float64{m.down.med, m.plainDown.med}})
	}
	plot := barChart{title: "Data path throughput (higher is better)", unit: "MiB/s",
		series: []string{"Truce (host + runtime)", "plain Go TLS 1.3"}, groups: groups}
	return &section{title: "Data path: uploads and downloads against plain TLS", body: t.String(),
		plots: []namedPlot{{"datapath.svg", "throughput of uploads and downloads through Truce and over plain TLS", plot.svg()}}}, nil
}
