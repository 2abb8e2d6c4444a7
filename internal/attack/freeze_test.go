package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/policy/succession"
)

// These tests are issue 17's item 3: no principal freezes the enclave
// for the others. Each attack holds its stall until the victims' requests
// are answered or attackCap passes, and asserts that the victims were
// answered while the attack still held: on code where the attack freezes
// the enclave, the victims wait for the attacker and the test fails; where
// it does not, the test ends as soon as they are served, with no timing
// bound that a loaded machine could miss.

// attackCap is the longest an attack is held waiting for the victims.
const attackCap = 20 * time.Second

// h2Stall is a hand-made HTTP/2 connection that announces a receive window
// of zero, so the enclave can send response headers but not one byte of
// body: the response stays stalled for as long as the connection lives.
type h2Stall struct {
	conn    *tls.Conn
	mu      sync.Mutex
	headers time.Time // when the response headers of stream 1 arrived
	reset   time.Time // when stream 1 was reset or the connection ended
	gotHdr  chan struct{}
	gotRst  chan struct{}
	status  byte // the first header byte: 0x88 is :status 200
}

func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// hpackLiteral is a header field without indexing, its name from the
// static table (RFC 7541 6.2.2), its value a plain string (< 127 bytes).
func hpackLiteral(nameIndex byte, value string) []byte {
	return append([]byte{nameIndex, byte(len(value))}, value...)
}

// stallGET sends GET path as n over HTTP/2 with a zero receive window;
// the answer must be 200.
func (w *world) stallGET(t testing.TB, n, path string) *h2Stall {
	t.Helper()
	s := w.stallRequest(t, n, http.MethodGet, path)
	if s.status != 0x88 {
		t.Fatalf("the stalled GET %s was answered with header byte %#x, not :status 200", path, s.status)
	}
	return s
}

// stallRequest sends a GET or a POST without body of path as n over
// HTTP/2 with a zero receive window, and returns once the response
// headers arrived.
func (w *world) stallRequest(t testing.TB, n, method, path string) *h2Stall {
	t.Helper()
	cfg := w.tlsConfig(n)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.addr, cfg)
	if err != nil {
		t.Fatalf("HTTP/2 to the enclave as %s: %v", n, err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("the enclave negotiated %q, not h2", p)
	}
	t.Cleanup(func() { c.Close() })
	s := &h2Stall{conn: c, gotHdr: make(chan struct{}), gotRst: make(chan struct{})}
	var out []byte
	out = append(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	out = append(out, h2Frame(0x4, 0, 0, []byte{0, 0x4, 0, 0, 0, 0})...) // SETTINGS_INITIAL_WINDOW_SIZE = 0
	hdr := []byte{0x82, 0x87}                                            // :method GET, :scheme https
	if method == http.MethodPost {
		hdr[0] = 0x83 // :method POST
	}
	hdr = append(hdr, hpackLiteral(0x04, path)...) // :path
	hdr = append(hdr, hpackLiteral(0x01, c.ConnectionState().ServerName)...)
	out = append(out, h2Frame(0x1, 0x1|0x4, 1, hdr)...) // HEADERS, END_STREAM|END_HEADERS
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	go func() {
		var once, rst sync.Once
		ended := func() {
			rst.Do(func() {
				s.mu.Lock()
				s.reset = time.Now()
				s.mu.Unlock()
				close(s.gotRst)
			})
		}
		defer ended()
		br := bufio.NewReader(c)
		for {
			var h [9]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			size := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
			payload := make([]byte, size)
			if _, err := io.ReadFull(br, payload); err != nil {
				return
			}
			stream := binary.BigEndian.Uint32(h[5:]) & 0x7fffffff
			switch typ, flags := h[3], h[4]; {
			case typ == 0x4 && flags&0x1 == 0: // SETTINGS: acknowledge
				c.Write(h2Frame(0x4, 0x1, 0, nil))
			case typ == 0x1 && stream == 1:
				once.Do(func() {
					s.mu.Lock()
					s.headers = time.Now()
					if len(payload) > 0 {
						s.status = payload[0]
					}
					s.mu.Unlock()
					close(s.gotHdr)
				})
			case typ == 0x3 && stream == 1, typ == 0x7: // RST_STREAM, GOAWAY
				ended()
			}
		}
	}()
	select {
	case <-s.gotHdr:
	case <-time.After(30 * time.Second):
		t.Fatalf("no response headers to the stalled %s %s", method, path)
	}
	return s
}

// timed runs f under ctx and reports how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// victims are the other parties' requests during an attack: alice dials,
// writes and bob dials and writes, rita dials and reads; it returns how
// long that took.
func (w *world) victims(ctx context.Context) (time.Duration, error) {
	return timed(func() error {
		for _, n := range []string{"alice", "bob"} {
			s, err := client.Dial(ctx, w.pol, w.ids[n], client.WithAddr(w.addr))
			if err != nil {
				return fmt.Errorf("%s dialing: %w", n, err)
			}
			path := "/input/" + n + ".dat"
			_, err = s.Put(ctx, path, strings.NewReader(n+" writes during the attack"))
			s.Close()
			if err != nil {
				return fmt.Errorf("%s writing %s: %w", n, path, err)
			}
		}
		s, err := client.Dial(ctx, w.pol, w.ids["rita"], client.WithAddr(w.addr))
		if err != nil {
			return fmt.Errorf("rita dialing: %w", err)
		}
		defer s.Close()
		if _, err := s.Get(ctx, "/input/alice.dat", io.Discard); err != nil {
			return fmt.Errorf("rita reading: %w", err)
		}
		return nil
	})
}

// frozenWorld is the suite's policy (it has no quorum, so it never
// changes) where mallory may also read her own files.
func frozenWorld(t *testing.T) *world {
	w := startWorld(t, worldOptions{extra: map[string]map[string]string{"mallory": {"/input/mallory/": "rw"}}})
	w.put(t, "alice", "/input/alice.dat", []byte("alice's data"))
	w.put(t, "mallory", "/input/mallory/big", bytes.Repeat([]byte("m"), 256<<10))
	return w
}

// successorPOST has n propose the current policy as its own successor,
// with no approvals, under a policy with no quorum: a request with no
// right to change anything. It returns the status.
func (w *world) successorPOST(ctx context.Context, n string) (int, string, error) {
	prop := succession.Encode(&api.PolicyProposal{Version: succession.ProposalVersion, Base: w.pol.Bytes(), Policy: w.pol.Bytes(), Approvals: []api.PolicyApproval{}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base()+api.PathPolicySuccessor, bytes.NewReader(prop))
	if err != nil {
		return 0, "", err
	}
	resp, err := w.httpClient(n).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp.Body), nil
}

// TestFreezeStalledReadAndSuccessor: mallory, who has no right to change
// the policy (it names no quorum), stalls a GET of her own file over
// HTTP/2 and then posts a successor proposal. The proposal is refused at
// once, and alice, bob and rita are served while her read still stalls.
// (On the code before the fix, the GET held the policy lock while the
// enclave waited for mallory's window, the proposal waited for the write
// lock, and everyone waited behind it, TLS handshakes included.)
func TestFreezeStalledReadAndSuccessor(t *testing.T) {
	w := frozenWorld(t)
	quiet, err := w.victims(context.Background())
	if err != nil {
		t.Fatalf("before the attack: %v", err)
	}
	st := w.stallGET(t, "mallory", "/v1/files/input/mallory/big")

	ctx, cancel := context.WithTimeout(context.Background(), attackCap)
	defer cancel()
	type answer struct {
		status int
		body   string
		err    error
		took   time.Duration
	}
	succ := make(chan answer, 1)
	go func() {
		var a answer
		a.took, a.err = timed(func() error {
			var err error
			a.status, a.body, err = w.successorPOST(ctx, "mallory")
			return err
		})
		succ <- a
	}()
	var a answer
	select {
	case a = <-succ:
	case <-ctx.Done():
		t.Fatalf("mallory's successor proposal was not answered within %v while her GET stalled", attackCap)
	}
	if a.err != nil || a.status != http.StatusForbidden || !strings.Contains(a.body, api.ProblemSuccessorRefused) || !strings.Contains(a.body, "no quorum") {
		t.Fatalf("mallory's successor proposal: %d %s (%v)", a.status, a.body, a.err)
	}
	during, err := w.victims(ctx)
	if err != nil {
		t.Fatalf("the other parties during the attack: %v", err)
	}
	select {
	case <-st.gotRst:
		// Allowed only after the stall bound; the test above ran while
		// the stall held (or the enclave cut it on its own).
		t.Logf("the enclave cut the stalled read %v after its headers", st.reset.Sub(st.headers).Round(time.Millisecond))
	default:
	}
	t.Logf("the refused proposal was answered in %v; alice, bob and rita were served in %v during the attack (%v without it)",
		a.took.Round(time.Millisecond), during.Round(time.Millisecond), quiet.Round(time.Millisecond))
}

// TestFreezeStalledReadCut: the enclave cuts a response its client does
// not take within the stall bound (10 s by default), rather than keep it
// open for as long as the client likes. Runs with TRUCE_LONG=1.
func TestFreezeStalledReadCut(t *testing.T) {
	long(t)
	w := frozenWorld(t)
	st := w.stallGET(t, "mallory", "/v1/files/input/mallory/big")
	// The other parties ask again and again while the stall lasts; the
	// slowest answer is the longest stall mallory imposed on them.
	var slowest time.Duration
	rounds := 0
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case <-st.gotRst:
			break wait
		case <-deadline:
			t.Fatal("the enclave kept a stalled response open for 30 s")
		default:
		}
		d, err := w.victims(context.Background())
		if err != nil {
			t.Fatalf("the other parties during the stall: %v", err)
		}
		slowest = max(slowest, d)
		rounds++
	}
	st.mu.Lock()
	stall := st.reset.Sub(st.headers)
	st.mu.Unlock()
	t.Logf("stalled response cut after %v; meanwhile %d rounds of alice, bob and rita took at most %v each",
		stall.Round(time.Millisecond), rounds, slowest.Round(time.Millisecond))
}

// slowPUT starts a PUT of path as n announcing size bytes, and sends one
// byte each interval until stop is closed; it returns when the headers
// and first byte are sent. done is closed when the request ends.
func (w *world) slowPUT(t testing.TB, n, path string, size int, interval time.Duration, stop <-chan struct{}) (done chan error) {
	t.Helper()
	c := w.rawConn(t, n)
	fmt.Fprintf(c, "PUT /v1/files%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\nx", path, c.ConnectionState().ServerName, size)
	done = make(chan error, 1)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for sent := 1; sent < size; sent++ {
			select {
			case <-stop:
				c.Close()
				done <- nil
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					done <- err
					return
				}
			}
		}
		done <- errors.New("the whole body was sent")
	}()
	return done
}

// TestFreezeSlowUpload: alice uploads her input one byte every 200 ms,
// which keeps her connection alive (bytes move) for as long as she likes.
// Meanwhile dave runs the program that reads her input, and rita reads
// it: both are served from the file as it was, while her upload is still
// arriving. (Before the fix the upload held the file's claim and the
// policy lock while its bytes arrived: the run waited for her.)
func TestFreezeSlowUpload(t *testing.T) {
	w := frozenWorld(t)
	w.uploadPrograms(t)
	dave := w.dial(t, "dave")
	if _, err := dave.Run(context.Background(), pCopy); err != nil { // compiles the program
		t.Fatalf("dave's run before the attack: %v", err)
	}
	stop := make(chan struct{})
	done := w.slowPUT(t, "alice", "/input/alice.dat", 1<<20, 200*time.Millisecond, stop)
	defer close(stop)
	time.Sleep(500 * time.Millisecond) // the upload is under way

	ctx, cancel := context.WithTimeout(context.Background(), attackCap)
	defer cancel()
	took, err := timed(func() error {
		res, err := dave.Run(ctx, pCopy)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("copy exited %d: %s", res.ExitCode, res.Stderr)
		}
		var out bytes.Buffer
		if _, err := dave.Get(ctx, "/output/copy.dat", &out); err != nil {
			return err
		}
		if out.String() != "alice's data" {
			return fmt.Errorf("the run read %q, not alice's file as it was", out.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dave's run during alice's slow upload: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("alice's upload ended before dave was served (%v): the test did not hold the attack", err)
	default:
	}
	t.Logf("dave's run and read took %v while alice's upload trickled", took.Round(time.Millisecond))
	if d, err := w.victims(ctx); err != nil {
		t.Fatalf("the other parties during the slow upload: %v", err)
	} else {
		t.Logf("alice, bob and rita served in %v", d.Round(time.Millisecond))
	}
}

// TestFreezeSilentUpload: an upload that stops sending its body is cut
// after the stall bound (10 s by default), and nothing is stored. Runs with
// TRUCE_LONG=1.
func TestFreezeSilentUpload(t *testing.T) {
	long(t)
	w := frozenWorld(t)
	before := w.snapshot(t)
	c := w.rawConn(t, "alice")
	fmt.Fprintf(c, "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nhalf", c.ConnectionState().ServerName)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(40 * time.Second))
	b, err := io.ReadAll(c)
	if isTimeout(err) {
		t.Fatal("the enclave waited 40 s for a body that stopped")
	}
	t.Logf("silent upload cut after %v: %q", time.Since(start).Round(time.Millisecond), firstLine(b, "(nothing)"))
	w.unchanged(t, before)
}

// TestFreezeManyConnections: mallory opens more connections than one
// principal may hold (64 by default). Those beyond the bound are answered
// 429 and never carry a request, so she cannot take the enclave's
// connections from others; alice is served meanwhile. (Before the fix one
// principal could open as many as the host relayed, each kept for 5
// minutes of idleness.)
func TestFreezeManyConnections(t *testing.T) {
	w := frozenWorld(t)
	const open, bound = 80, 64
	conns := make([]*tls.Conn, open)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, open)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", w.addr, w.tlsConfig("mallory"))
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("mallory's connection: %v", err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Every connection asks once; all stay open meanwhile.
	statuses := make([]int, open)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "GET /v1/policy HTTP/1.1\r\nHost: %s\r\n\r\n", c.ConnectionState().ServerName)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				statuses[i] = -1
				return
			}
			body := readAll(resp.Body)
			statuses[i] = resp.StatusCode
			if resp.StatusCode == http.StatusTooManyRequests && !strings.Contains(body, api.ProblemLimitExceeded) {
				t.Errorf("429 without a limit-exceeded problem: %s", body)
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	t.Logf("%d connections of mallory: statuses %v", open, count)
	if count[http.StatusOK] > bound || count[http.StatusTooManyRequests] < open-bound {
		t.Fatalf("mallory held %d connections that carried requests, the bound is %d (statuses %v)", count[http.StatusOK], bound, count)
	}
	d, err := w.victims(context.Background())
	if err != nil {
		t.Fatalf("the other parties while mallory holds %d connections: %v", open, err)
	}
	t.Logf("alice, bob and rita served in %v while mallory held her connections", d.Round(time.Millisecond))
}

// stallStreams opens one HTTP/2 connection as n with a zero receive
// window and sends k GETs of path on it at once; it returns the first
// header byte of each answer (0x88 is :status 200) once all k have
// answered headers, keeping the connection (and so the stalled answers)
// open until the test ends.
func (w *world) stallStreams(t testing.TB, n, path string, k int) []byte {
	t.Helper()
	cfg := w.tlsConfig(n)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.addr, cfg)
	if err != nil {
		t.Fatalf("HTTP/2 to the enclave as %s: %v", n, err)
	}
	t.Cleanup(func() { c.Close() })
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = append(out, h2Frame(0x4, 0, 0, []byte{0, 0x4, 0, 0, 0, 0})...)
	for i := 0; i < k; i++ {
		hdr := []byte{0x82, 0x87}
		hdr = append(hdr, hpackLiteral(0x04, path)...)
		hdr = append(hdr, hpackLiteral(0x01, c.ConnectionState().ServerName)...)
		out = append(out, h2Frame(0x1, 0x1|0x4, uint32(2*i+1), hdr)...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	got := map[uint32]byte{}
	all := make(chan struct{})
	go func() {
		br := bufio.NewReader(c)
		for {
			var h [9]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			payload := make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
			if _, err := io.ReadFull(br, payload); err != nil {
				return
			}
			stream := binary.BigEndian.Uint32(h[5:]) & 0x7fffffff
			switch typ := h[3]; {
			case typ == 0x4 && h[4]&0x1 == 0:
				c.Write(h2Frame(0x4, 0x1, 0, nil))
			case typ == 0x1 && stream != 0 && len(payload) > 0:
				if _, seen := got[stream]; !seen {
					got[stream] = payload[0]
					if len(got) == k {
						close(all)
					}
				}
			}
		}
	}()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d stalled GETs answered headers", len(got), k)
	}
	st := make([]byte, 0, k)
	for _, b := range got {
		st = append(st, b)
	}
	return st
}

// TestFreezeManyRequests: over HTTP/2, mallory puts 80 reads in progress
// at once on two connections and takes none of their answers. Only 64
// (the bound per principal) are served; the rest are answered 429 at
// once; alice, bob and rita are served meanwhile. (Before the fix every
// one was served and held, each with its file snapshot.)
func TestFreezeManyRequests(t *testing.T) {
	w := frozenWorld(t)
	const each, bound = 40, 64
	var st []byte
	st = append(st, w.stallStreams(t, "mallory", "/v1/files/input/mallory/big", each)...)
	st = append(st, w.stallStreams(t, "mallory", "/v1/files/input/mallory/big", each)...)
	ok := bytes.Count(st, []byte{0x88})
	t.Logf("%d of mallory's %d reads in progress were served, %d refused", ok, len(st), len(st)-ok)
	if ok > bound || len(st)-ok < 2*each-bound {
		t.Fatalf("mallory had %d requests in progress served, the bound is %d", ok, bound)
	}
	d, err := w.victims(context.Background())
	if err != nil {
		t.Fatalf("the other parties while mallory holds %d requests: %v", len(st), err)
	}
	t.Logf("alice, bob and rita served in %v", d.Round(time.Millisecond))
}

// TestFreezeRunSlots: the host lets the enclave run two programs at once.
// dave asks for two runs of a program that loops until its time is up:
// one is refused, the last place being kept for the others, and bob's run
// goes ahead while dave's other run still runs. (Before the fix dave's
// runs took both places, the second waiting for the program's lock, and
// every other party's run was refused until both ended.) bob runs a
// program whose files do not meet the loop's, so that it waits for no
// claim.
func TestFreezeRunSlots(t *testing.T) {
	w := newWorld(t, startPAS(t), worldOptions{extra: map[string]map[string]string{"bob": {pEscape: "x"}}})
	w.serve(t, "--max-runs", "2")
	w.uploadPrograms(t)
	w.put(t, "alice", "/input/alice.dat", []byte("alice's data"))
	bob := w.dial(t, "bob")
	if _, err := bob.Run(context.Background(), pEscape); err != nil { // compiles it
		t.Fatalf("bob's run before: %v", err)
	}
	daves := make(chan error, 2)
	for range 2 {
		s := w.dial(t, "dave")
		go func() {
			_, err := s.Run(context.Background(), pLoop)
			daves <- err
		}()
	}
	var refused error
	select {
	case refused = <-daves:
	case <-time.After(attackCap):
		t.Fatalf("neither of dave's runs answered within %v", attackCap)
	}
	if !errors.Is(refused, client.ErrLimitExceeded) {
		t.Fatalf("the first of dave's two runs to answer: %v, want a refusal (limit exceeded)", refused)
	}
	took, err := timed(func() error {
		_, err := bob.Run(context.Background(), pEscape)
		return err
	})
	if err != nil {
		t.Fatalf("bob's run while dave's run holds a place: %v", err)
	}
	select {
	case err := <-daves:
		t.Fatalf("dave's other run ended (%v) before bob was served: the test did not hold the attack", err)
	default:
	}
	t.Logf("dave's second run refused (%v); bob's run took %v while dave's other run ran", refused, took.Round(time.Millisecond))
}
