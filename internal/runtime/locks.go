package runtime

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/policy"
)

// Locks of a request. Every request does its work under the policy it was
// authenticated under and lets go before it touches the network:
//
//   - polMu, read: every request but runs, while it checks, reads or
//     commits; never while it reads a request body from the client or
//     writes a response to it (the response is kept, see
//     deferredResponse, and sent once the request holds nothing).
//   - runGate, read: runs and pipelines, for as long as the program runs
//     (bounded by the policy's exec_seconds); they hold no polMu.
//   - both, write: a change of policy, for its own bounded work only,
//     after the proposal has been checked against the quorum without
//     any lock.
//
// The order is runGate before polMu. A request holds at most one of
// them for reading, and never takes it twice.

// lockKind says which of the runtime's locks a request holds.
type lockKind int

const (
	heldNone  lockKind = iota
	heldRead           // polMu for reading
	heldRun            // runGate for reading
	heldWrite          // runGate and polMu for writing
)

// lock takes k for rq, which must hold nothing.
func (r *Runtime) lock(rq *request, k lockKind) {
	switch k {
	case heldRead:
		r.polMu.RLock()
	case heldRun:
		r.runGate.RLock()
	case heldWrite:
		r.runGate.Lock()
		r.polMu.Lock()
	}
	rq.held = k
}

// unlock lets go of what rq holds.
func (r *Runtime) unlock(rq *request) {
	switch rq.held {
	case heldRead:
		r.polMu.RUnlock()
	case heldRun:
		r.runGate.RUnlock()
	case heldWrite:
		r.polMu.Unlock()
		r.runGate.Unlock()
	}
	rq.held = heldNone
}

// errPolicyChanged: a successor took effect while the request waited on
// its client; nothing it asked for was done.
var errPolicyChanged = errors.New("the policy changed while the request was in progress")

// errClaimWait: the request ended while waiting for a run to let go of
// its file.
var errClaimWait = errors.New("the request ended while waiting for a run to finish with the file")

func policyChangedProblem(gp string) *problem {
	return newProblem(http.StatusConflict, api.ProblemConflict,
		"a successor policy took effect while the body for %s was arriving: nothing was stored; check the enclave's current policy (truce policy show, GET /v1/policy) and send it again", gp)
}

// lockedBody is a request body read by a request that holds polMu for
// reading: it lets go of the lock while it waits for the client's bytes
// and takes it again at the end of the body (or on any error), so a slow
// upload holds nothing another party needs. Once it holds the lock again
// it checks that the policy is still the one the request was checked
// under; if a successor took effect meanwhile, the body ends with
// errPolicyChanged and the request must change nothing. atEnd, when set,
// runs once under the lock again when the whole body has arrived (the
// write takes its claim there, so the claim is held only while the file
// is committed, not while the bytes arrive).
type lockedBody struct {
	r     *Runtime
	rq    *request
	body  io.Reader
	pol   *policy.Policy
	atEnd func() error
	err   error // sticky: errPolicyChanged or atEnd's error
	ended bool
}

func (r *Runtime) lockedBody(rq *request, body io.Reader) *lockedBody {
	return &lockedBody{r: r, rq: rq, body: body, pol: r.pol}
}

func (b *lockedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.ended {
		return 0, io.EOF
	}
	if b.rq.held == heldRead {
		b.r.unlock(b.rq)
	}
	n, err := b.body.Read(p)
	if err == nil {
		return n, nil
	}
	if perr := b.relock(); perr != nil {
		return n, perr
	}
	if errors.Is(err, io.EOF) {
		b.ended = true
		if b.atEnd != nil {
			if aerr := b.atEnd(); aerr != nil {
				b.err = aerr
				return n, aerr
			}
		}
	}
	return n, err
}

// relock takes polMu again if the body let go of it, and checks the
// policy is the one the request began under.
func (b *lockedBody) relock() error {
	if b.rq.held == heldNone {
		b.r.lock(b.rq, heldRead)
	}
	if b.err == nil && b.r.pol != b.pol {
		b.err = errPolicyChanged
	}
	return b.err
}

// finish holds polMu again, whatever the reader of the body did, and
// returns errPolicyChanged if the policy changed, or atEnd's error.
func (b *lockedBody) finish() error { return b.relock() }

// deferredResponse keeps a response while the request holds locks: its
// status, its body (the runtime's own answers: JSON, policy bytes) and a
// file snapshot to stream. send writes them once the request holds
// nothing, each write bounded by the stall limit.
type deferredResponse struct {
	w      http.ResponseWriter
	status int
	buf    bytes.Buffer
	file   *vfs.Snapshot  // streamed after buf, if set
	pol    *policy.Policy // the policy the file was read under
}

func (d *deferredResponse) Header() http.Header { return d.w.Header() }

func (d *deferredResponse) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

func (d *deferredResponse) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return d.buf.Write(b)
}

// Flush does nothing: the response goes out when the request is done.
func (d *deferredResponse) Flush() {}

// streamFile makes the response's body the snapshot s, read under pol.
func (d *deferredResponse) streamFile(s *vfs.Snapshot, pol *policy.Policy) {
	d.file, d.pol = s, pol
}

// sendChunk is how much is written under one deadline.
const sendChunk = 32 << 10

// errAborted: a streamed read was cut because a successor took effect
// or the enclave was wiped.
var errAborted = errors.New("a successor policy took effect, or the enclave stopped, while the file was being sent")

// send writes the kept response. Each chunk must leave within stall. A
// file is streamed from its snapshot; before each chunk the policy is
// checked under polMu, and if a successor took effect since the read
// began the response is cut (errAborted): a read in progress does not
// outlive the policy that allowed it, and never sends bytes a change of
// policy wiped. The caller holds no lock.
func (r *Runtime) send(d *deferredResponse, stall time.Duration) error {
	if d.file != nil {
		defer d.file.Close()
	}
	if d.status == 0 {
		return nil
	}
	rc := http.NewResponseController(d.w)
	defer rc.SetWriteDeadline(time.Time{}) //nolint:errcheck // lifts the chunk deadline; the connection's own stall bound stays
	d.w.WriteHeader(d.status)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(stall))
		_, err := d.w.Write(b)
		return err
	}
	body := d.buf.Bytes()
	for len(body) > 0 {
		n := min(len(body), sendChunk)
		if err := write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	if d.file != nil {
		buf := make([]byte, sendChunk)
		for off := int64(0); off < d.file.Size(); {
			r.polMu.RLock()
			same := r.pol == d.pol && !r.isStopped()
			var n int
			var err error
			if same {
				n, err = d.file.ReadAt(buf, off)
			}
			r.polMu.RUnlock()
			if !same {
				return errAborted
			}
			if n > 0 {
				if werr := write(buf[:n]); werr != nil {
					return werr
				}
				off += int64(n)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if n == 0 {
				break
			}
		}
	}
	_ = rc.SetWriteDeadline(time.Now().Add(stall))
	return rc.Flush()
}
