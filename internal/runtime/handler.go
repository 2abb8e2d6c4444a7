package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
)

// problem is a refusal or failure on its way to becoming an api.Problem:
// its type's title is api.Problems', and its status one the type allows
// (TestProblemStatuses).
type problem struct {
	status   int
	name     string // api.Problem* name
	detail   string
	result   *api.RunResult
	pipeline *api.PipelineResult
}

func (p *problem) Error() string { return p.name + ": " + p.detail }

func newProblem(status int, name, format string, a ...any) *problem {
	return &problem{status: status, name: name, detail: fmt.Sprintf(format, a...)}
}

func writeProblem(w http.ResponseWriter, req *http.Request, p *problem) {
	t, _ := api.Problems.Type(p.name)
	body := api.Problem{
		Type: api.Problems.URI(p.name), Title: t.Title, Status: p.status,
		Detail: p.detail, Instance: req.URL.Path, Result: p.result, Pipeline: p.pipeline,
	}
	w.Header().Set("Content-Type", api.ContentTypeProblem)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Handler returns the HTTP API. It expects requests that came through the
// TLS configuration of TLSConfig (the client certificate in req.TLS).
func (r *Runtime) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

// request is one API request being handled; it collects what the audit
// log records about it.
type request struct {
	w       http.ResponseWriter
	req     *http.Request
	pr      *policy.Principal
	action  string
	path    string
	hashes  []string
	outcome string
	held    lockKind          // the runtime's locks the request holds now (locks.go)
	resp    *deferredResponse // the response, kept until the request holds no lock
	// extra is charged to the request's audit entry on top of its own
	// size: the receipt it names.
	extra int64
	err   error // what the route's handler returned (routes.go)
}

// auditWriter appends the request's audit entry just before the response
// starts, so that a client that has its answer finds it in the log.
type auditWriter struct {
	http.ResponseWriter
	r      *Runtime
	rq     *request
	logged bool
}

func (a *auditWriter) log() {
	if a.logged {
		return
	}
	a.logged = true
	if a.rq.pr == nil {
		return
	}
	out := a.rq.outcome
	if out == "" {
		out = "ok"
	}
	a.r.audit.AppendCharged(audit.Entry{Principal: a.rq.pr.Name, Action: a.rq.action, Path: a.rq.path, Hashes: a.rq.hashes, Outcome: out}, a.rq.extra)
}

func (a *auditWriter) WriteHeader(code int) {
	a.log()
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	a.log()
	return a.ResponseWriter.Write(b)
}

// Flush passes on to the underlying writer.
func (a *auditWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *Runtime) serveHTTP(w http.ResponseWriter, req *http.Request) {
	lim := r.srvLim
	// A connection beyond its principal's bound, or a request beyond
	// its principal's requests in progress, is refused before anything
	// else: it holds nothing of anyone else's.
	if lc := limitedConnOf(req); lc != nil {
		if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			lc.admit(&r.conns, req.TLS.PeerCertificates[0].Raw, lim.ConnsPerPrincipal)
		}
		if err := lc.refused(); err != nil {
			w.Header().Set("Connection", "close")
			writeProblem(w, req, newProblem(http.StatusTooManyRequests, api.ProblemLimitExceeded, "%v", err))
			return
		}
	}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		k := keyOf(req.TLS.PeerCertificates[0].Raw)
		if !r.inflight.take(k, lim.RequestsPerPrincipal) {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, req, newProblem(http.StatusTooManyRequests, api.ProblemLimitExceeded,
				"this principal has %d requests in progress, the most one principal may have at once: wait for some to finish, then retry", lim.RequestsPerPrincipal))
			return
		}
		defer r.inflight.put(k)
	}
	// Every read of the body must bring bytes within the stall bound.
	rc := http.NewResponseController(w)
	pb := &progressBody{ReadCloser: req.Body, rc: rc, stall: lim.Stall}
	req.Body = pb
	// The server discards what is left of the body after the handler;
	// that too must move (progressBody.settle).
	defer pb.settle()

	dw := &deferredResponse{w: w}
	rq := &request{req: req, action: "unknown", resp: dw}
	aw := &auditWriter{ResponseWriter: dw, r: r, rq: rq}
	rq.w = aw
	kind := heldRead
	switch p := req.URL.Path; {
	case strings.HasPrefix(p, api.PathRun) || strings.HasPrefix(p, api.PathPipelines):
		// Runs hold runGate, not polMu, while the program runs.
		kind = heldRun
	case strings.HasPrefix(p, api.PathFiles) && (req.Method == http.MethodPut || req.Method == http.MethodPost):
		// Uploads stream their body without the lock (lockedBody).
	default:
		// Other bodies are small; they are read whole before any lock,
		// so a client sending one slowly holds nothing.
		limit := int64(maxSmallBody)
		if p == api.PathPolicySuccessor && req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			// A proposal may be large and is read whole, beyond what
			// total_mib counts: one at a time per principal.
			k := keyOf(req.TLS.PeerCertificates[0].Raw)
			if !r.proposing.take(k, 1) {
				w.Header().Set("Retry-After", "1")
				writeProblem(aw, req, newProblem(http.StatusTooManyRequests, api.ProblemLimitExceeded,
					"this principal is already sending a successor proposal: one at a time"))
				r.sendKept(dw)
				return
			}
			defer r.proposing.put(k)
			limit = succession.MaxProposal
		}
		b, rerr := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
		if rerr != nil {
			writeProblem(aw, req, bodyProblem(rerr, limit).(*problem))
			r.sendKept(dw)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	r.lock(rq, kind)
	p := r.routeLogged(rq, aw)
	r.unlock(rq)
	if p != nil {
		writeProblem(aw, req, p)
	}
	if pb.state == bodyFailed && req.ProtoMajor == 1 {
		// The rest of a broken body cannot be told from a next request.
		w.Header().Set("Connection", "close")
	}
	r.sendKept(dw)
}

// maxSmallBody bounds the body of every request but uploads and
// successor proposals (release requests carry the largest: a hash).
const maxSmallBody = maxReleaseBody

// sendKept sends a kept response; the caller holds no lock. A streamed
// read cut by a change of policy aborts the response, so the client sees
// a broken transfer, never a wrong one.
func (r *Runtime) sendKept(dw *deferredResponse) {
	if err := r.send(dw, r.srvLim.Stall); errors.Is(err, errAborted) {
		panic(http.ErrAbortHandler)
	}
}

// routeLogged routes the request and appends its audit entry before
// returning, while the request holds polMu or runGate: every entry then lies in the
// log between the changes of policy it happened between, so the log
// tells which policy governed each run, refused ones included (audit
// bundles rely on it). It returns the problem to answer, if any.
func (r *Runtime) routeLogged(rq *request, aw *auditWriter) *problem {
	err := r.route(rq)
	var p *problem
	if err != nil {
		if !errors.As(err, &p) {
			r.log.Error("request failed", "path", rq.req.URL.Path, "error", err)
			p = newProblem(http.StatusInternalServerError, api.ProblemInternal, "the runtime failed: %v", err)
			rq.outcome = "error"
		} else {
			rq.outcome = p.name
		}
	}
	aw.log()
	return p
}

// route authenticates the request and dispatches it. Handlers write the
// success response themselves and return a *problem otherwise.
func (r *Runtime) route(rq *request) error {
	req := rq.req
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return newProblem(http.StatusUnauthorized, api.ProblemUnauthenticated, "present a principal's client certificate over TLS")
	}
	raw := make([][]byte, len(req.TLS.PeerCertificates))
	for i, c := range req.TLS.PeerCertificates {
		raw[i] = c.Raw
	}
	pr, err := r.checkClient(r.pol, raw)
	if err != nil {
		return newProblem(http.StatusUnauthorized, api.ProblemUnauthenticated, "%v", err)
	}
	rq.pr = pr
	if r.pol.Expired(r.now()) {
		rq.action = "refused"
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "the policy expired at %s: make a new policy and a new enclave", r.pol.Expires.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	return r.dispatch(rq)
}

// auditQuery reads the paging parameters of GET /v1/audit: after (-1 when
// absent) and limit (0 when absent).
func auditQuery(req *http.Request) (int64, int, error) {
	q := req.URL.Query()
	after, limit := int64(-1), 0
	if v := q.Get(api.QueryAfter); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return 0, 0, newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%s=%q: give the sequence number of the last entry you have", api.QueryAfter, v)
		}
		after = int64(n)
	}
	if v := q.Get(api.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%s=%q: give a number of entries from 1 to %d", api.QueryLimit, v, audit.MaxPage)
		}
		limit = n
	}
	return after, limit, nil
}

// MayShutdown reports whether a principal may shut the enclave down: any
// principal holding an x (run) right on some path, that is, one who may
// trigger computations, may also end them.
func MayShutdown(pr *policy.Principal) bool {
	for _, rights := range pr.Capabilities {
		if rights.Has(capability.Execute) {
			return true
		}
	}
	return false
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return newProblem(http.StatusMethodNotAllowed, api.ProblemBadRequest, "method not allowed here: use %s", allow)
}

// GuestPath turns a request path under prefix into the enclave file path it
// names: "/v1/files/input/a.dat" under "/v1/files/" is "/input/a.dat". The
// result is always clean and absolute, never a directory, and never holds
// "." or ".." elements or NUL bytes; anything else is an error.
func GuestPath(urlPath, prefix string) (string, error) {
	rest, ok := strings.CutPrefix(urlPath, prefix)
	if !ok {
		return "", fmt.Errorf("path %q is not under %s", urlPath, prefix)
	}
	if rest == "" {
		return "", fmt.Errorf("no file named: put the enclave path after %s, such as %sinput/data.csv", prefix, prefix)
	}
	if len(rest) > vfs.MaxPath {
		return "", fmt.Errorf("path of %d bytes is too long (at most %d)", len(rest), vfs.MaxPath)
	}
	gp := "/" + rest
	if strings.HasSuffix(gp, "/") {
		return "", fmt.Errorf("%q is a directory: name a file", gp)
	}
	if err := capability.CheckPath(gp); err != nil {
		return "", err
	}
	return gp, nil
}

// bodyLimit is how many body bytes a write may carry: the per-file limit.
func (r *Runtime) bodyLimit() int64 { return r.pol.Limits.File() }

func (r *Runtime) handleWrite(rq *request, appendMode bool) error {
	gp := rq.path
	want, verb := capability.Write, "write"
	if appendMode {
		want, verb = capability.Append, "append to"
	}
	if !r.pol.PrincipalAllows(rq.pr.Name, gp, want) {
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not %s %s: the policy grants no %q right there", rq.pr.Name, verb, gp, want.String())
	}
	if r.grantDir(gp) {
		return newProblem(http.StatusConflict, api.ProblemConflict, "%s is a directory in the policy (%s/): name a file inside it", gp, gp)
	}
	limit := r.bodyLimit()
	if rq.req.ContentLength > limit {
		return newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "the body of %d bytes exceeds the per-file limit of %d bytes", rq.req.ContentLength, limit)
	}
	// The body arrives without the policy lock and without the claim:
	// lockedBody takes the lock back at its end, checks that the policy
	// is still the one checked above, and only then takes the claim (a
	// run reading or writing gp keeps it still until its receipt is
	// made), so a slow upload holds up no one else's request.
	prog := r.pol.Program(gp)
	view := r.fs.View(rq.pr.Capabilities)
	var (
		n       int64
		existed bool
		cl      *claim
		err     error
	)
	defer func() {
		if cl != nil {
			r.claims.release(cl)
		}
	}()
	lb := r.lockedBody(rq, rq.req.Body)
	lb.atEnd = func() error {
		c, err := r.claims.acquire(rq.req.Context(), capability.Set{gp: want})
		if err != nil {
			return errClaimWait
		}
		cl = c
		_, serr := r.admin.Stat(gp)
		existed = serr == nil
		return nil
	}
	body := &bodyReader{r: http.MaxBytesReader(rq.w, io.NopCloser(lb), limit)}
	ended := func() error {
		switch err := lb.finish(); {
		case errors.Is(err, errPolicyChanged):
			return policyChangedProblem(gp)
		case errors.Is(err, errClaimWait):
			return newProblem(http.StatusServiceUnavailable, api.ProblemNotReady, "%s is in use by a run and the request ended while waiting: try again", gp)
		}
		return nil
	}
	if prog != nil {
		if appendMode {
			return newProblem(http.StatusConflict, api.ProblemConflict, "%s is a program pinned by the policy: write it whole with PUT", gp)
		}
		// Programs are checked whole before anything is stored, in the
		// file system's buffer, reserved against its limits as the bytes
		// arrive (not in one of the handler's, which nothing counts).
		n, err = view.WriteFileChecked(gp, body, func(b []byte) error {
			sum := sha256.Sum256(b)
			got := hex.EncodeToString(sum[:])
			// The pinned hash is public; the hash of other bytes is
			// logged nowhere.
			if !strings.EqualFold(got, prog.SHA256) {
				return newProblem(http.StatusConflict, api.ProblemHashMismatch, "the bytes sent for %s have SHA-256 %s, the policy pins %s: upload the program the policy names", gp, got, strings.ToLower(prog.SHA256))
			}
			return nil
		})
	} else if appendMode {
		n, err = view.AppendFile(gp, body)
	} else {
		n, err = view.WriteFile(gp, body)
	}
	if perr := ended(); perr != nil {
		return perr
	}
	if err != nil {
		var pm *problem
		if errors.As(err, &pm) {
			return pm
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyProblem(err, limit)
		}
		if body.err != nil {
			// The client sent a broken body (bad chunking, cut short).
			return bodyProblem(body.err, limit)
		}
		if appendMode && errors.Is(err, vfs.ErrQuota) && !r.pol.PrincipalAllows(rq.pr.Name, gp, capability.Read) {
			// The size the file would have had, in the error, is the
			// size of others' appends to one who may not read them.
			return quotaProblemBlind(err)
		}
		return fsProblem(err, rq.pr.Name, gp)
	}
	s, err := r.admin.Open(gp)
	if err != nil {
		return fsProblem(err, rq.pr.Name, gp)
	}
	// Closed now, not by the collector: until then the version stays
	// charged against total_mib once replaced.
	defer s.Close()
	// Every write makes a new version with a fresh salt, which only the
	// writer gets here (and readers with each read).
	o, err := r.commitNew(gp, s, true)
	if err != nil {
		return err
	}
	rq.hashes = []string{o.commit}
	if prog := r.pol.Program(gp); prog != nil {
		// A program's bytes are public by their pin: the log names them so.
		rq.hashes = []string{strings.ToLower(prog.SHA256)}
	}
	status := http.StatusOK
	if !existed && !appendMode {
		status = http.StatusCreated
	}
	fr := api.FileResult{Path: gp, Size: o.size, SHA256: o.sum, Commitment: o.commit, Salt: o.salt}
	if appendMode && !r.pol.PrincipalAllows(rq.pr.Name, gp, capability.Read) {
		// The file holds others' appends too: the hash and the salt of
		// the whole would let an appender who may not read it test
		// guesses of them.
		// Nor is its size told: it would give the length of the
		// others' appends (the difference between two answers, the
		// length of what was appended between them). The answer names
		// the bytes this append added.
		fr.SHA256, fr.Salt, fr.Size = "", "", n
	}
	writeJSON(rq.w, status, fr)
	return nil
}

// grantDir reports whether some grant of the policy names gp as a
// directory (gp + "/"), so that a file there would block the directory.
func (r *Runtime) grantDir(gp string) bool {
	d := gp + "/"
	for _, pr := range r.pol.Principals {
		if _, ok := pr.Capabilities[d]; ok {
			return true
		}
	}
	for _, pg := range r.pol.Programs {
		if _, ok := pg.Capabilities[d]; ok {
			return true
		}
	}
	return false
}

// bodyReader remembers the error reading a request body, so that a body
// the client broke is told apart from a failure to store it.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func bodyProblem(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "the body exceeds the per-file limit of %d bytes: nothing was stored", limit)
	}
	return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "reading the request body: %v", err)
}

// quotaProblemBlind is the problem of a write refused by a size limit,
// told to one who may not read all that the limit counts (the file, for
// an appender without the r right; the whole file system, for anyone):
// which limit, not the size the file or the file system would have had.
func quotaProblemBlind(err error) error {
	var qe *vfs.QuotaError
	if errors.As(err, &qe) && qe.Total {
		why := "remove files or ask for a larger total_mib"
		if qe.Retired > 0 {
			why = "some of what it holds are old versions still being read by downloads in progress: retry when they finish, remove files or ask for a larger total_mib"
		}
		return newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "size limit exceeded: the file system would hold more than its limit of %d bytes; %s: nothing was stored", qe.Limit, why)
	}
	limit := int64(0)
	if qe != nil {
		limit = qe.Limit
	}
	return newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "size limit exceeded: the file would be more than the limit of %d bytes per file: nothing was stored", limit)
}

// fsProblem maps a file system error to a problem.
func fsProblem(err error, who, gp string) error {
	var qe *vfs.QuotaError
	switch {
	case errors.As(err, &qe) && qe.Total:
		// What the file system holds is everyone's: its size, told to a
		// writer, would give the length of others' uploads.
		return quotaProblemBlind(err)
	case errors.Is(err, vfs.ErrQuota):
		return newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "%v: nothing was stored", err)
	case errors.Is(err, vfs.ErrPermission):
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not access %s", who, gp)
	case errors.Is(err, vfs.ErrNotExist):
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "%s does not exist", gp)
	case errors.Is(err, vfs.ErrIsDir), errors.Is(err, vfs.ErrNotDir), errors.Is(err, vfs.ErrExist), errors.Is(err, vfs.ErrNotEmpty):
		return newProblem(http.StatusConflict, api.ProblemConflict, "%s: %v", gp, err)
	case errors.Is(err, vfs.ErrInvalid), errors.Is(err, vfs.ErrNameTooLong), errors.Is(err, vfs.ErrEscape):
		return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%s: %v", gp, err)
	}
	return fmt.Errorf("%s: %w", gp, err)
}

func (r *Runtime) handleRead(rq *request) error {
	gp := rq.path
	if !r.pol.PrincipalAllows(rq.pr.Name, gp, capability.Read) {
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not read %s: the policy grants no \"r\" right there", rq.pr.Name, gp)
	}
	s, err := r.fs.View(rq.pr.Capabilities).Open(gp)
	if err != nil {
		return fsProblem(err, rq.pr.Name, gp)
	}
	streamed := false
	defer func() {
		if !streamed {
			s.Close()
		}
	}()
	o, err := r.commitCurrent(gp, s, true)
	if err != nil {
		return fmt.Errorf("reading %s: %w", gp, err)
	}
	// A read refused by a hold logs no commitment: the log says only
	// that it was refused.
	if pending := r.pendingReleases(gp, o.commit); len(pending) > 0 {
		return newProblem(http.StatusForbidden, api.ProblemHeld, "%s is held until %s release it: nothing was read; each of them runs truce release %s", gp, strings.Join(pending, ", "), gp)
	}
	rq.hashes = []string{o.commit}
	hd := rq.w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(s.Size(), 10))
	hd.Set(api.HeaderSHA256, o.sum)
	hd.Set(api.HeaderCommitment, o.commit)
	hd.Set(api.HeaderSalt, o.salt)
	hd.Set("X-Content-Type-Options", "nosniff")
	rq.w.WriteHeader(http.StatusOK)
	if rq.req.Method == http.MethodGet {
		// Sent from the snapshot once the request holds no lock; send
		// closes it.
		rq.resp.streamFile(s, r.pol)
		streamed = true
	}
	return nil
}
