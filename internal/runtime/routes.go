package runtime

import (
	"context"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/truce-project/truce/api"
)

// The API's routes: Go's ServeMux patterns, one per method and path, each
// naming the action its audit entry records. A request reaches its route
// authenticated (route), holding the lock its kind needs (serveHTTP); the
// route's handler returns a *problem, or nil once it has answered.

// routeKey carries the request to its route's handler.
type routeKey struct{}

// guestRoutes are the paths that name an enclave file or a pipeline after
// their prefix, with the action a malformed one is recorded as.
var guestRoutes = []struct{ prefix, action string }{
	{api.PathFiles, "file"}, {api.PathRun, "run"}, {api.PathPipelines, "pipeline"}, {api.PathRelease, "release"},
}

// newMux makes the API's routes for r.
func (r *Runtime) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern, action string, fn func(rq *request) error) {
		mux.HandleFunc(pattern, func(_ http.ResponseWriter, req *http.Request) {
			rq := req.Context().Value(routeKey{}).(*request)
			rq.action = action
			rq.err = fn(rq)
		})
	}
	// file routes a method on paths that name an enclave file after
	// prefix; a malformed one is recorded as its family's action.
	file := func(method, prefix, action string, fn func(rq *request) error) {
		handle(method+" "+prefix, action, func(rq *request) error {
			gp, err := GuestPath(rq.req.URL.Path, prefix)
			if err != nil {
				rq.action = guestAction(prefix)
				return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%v", err)
			}
			rq.path = gp
			return fn(rq)
		})
	}
	file("PUT", api.PathFiles, "write", func(rq *request) error { return r.handleWrite(rq, false) })
	file("POST", api.PathFiles, "append", func(rq *request) error { return r.handleWrite(rq, true) })
	file("GET", api.PathFiles, "read", r.handleRead) // and HEAD
	file("POST", api.PathRun, "run", r.handleRun)
	file("POST", api.PathRelease, "release", r.handleRelease)
	handle("POST "+api.PathPipelines, "pipeline", func(rq *request) error {
		rq.path = strings.TrimPrefix(rq.req.URL.Path, api.PathPipelines)
		return r.handlePipeline(rq, rq.path)
	})
	handle("GET "+api.PathPolicy, "policy", r.handlePolicy) // and HEAD
	// These take GET only (a GET pattern also matches HEAD).
	getOnly := func(p, action string, fn func(rq *request) error) {
		handle("GET "+p, action, func(rq *request) error {
			if rq.req.Method != http.MethodGet {
				return methodNotAllowed(rq.w, "GET")
			}
			return fn(rq)
		})
	}
	getOnly(api.PathPolicyChain, "policy-chain", r.handlePolicyChain)
	getOnly(api.PathAttestation, "attestation", r.handleAttestation)
	getOnly(api.PathAudit, "audit", r.handleAudit)
	getOnly(api.PathReceipts, "receipts", r.handleReceipts)
	handle("POST "+api.PathPolicySuccessor, "policy-successor", r.handleSuccessor)
	handle("POST "+api.PathShutdown, "shutdown", r.handleShutdown)

	// A known path asked with another method: 405 with the methods it
	// takes (a pattern with a method wins over one without).
	for _, a := range []struct{ path, action, methods string }{
		{api.PathFiles, "file", "GET, HEAD, PUT, POST"},
		{api.PathRun, "run", "POST"},
		{api.PathRelease, "release", "POST"},
		{api.PathPipelines, "pipeline", "POST"},
		{api.PathPolicySuccessor, "policy-successor", "POST"},
		{api.PathShutdown, "shutdown", "POST"},
		{api.PathPolicy, "policy", "GET, HEAD"},
		{api.PathPolicyChain, "policy-chain", "GET"},
		{api.PathAttestation, "attestation", "GET"},
		{api.PathAudit, "audit", "GET"},
		{api.PathReceipts, "receipts", "GET"},
	} {
		handle(a.path, a.action, func(rq *request) error { return methodNotAllowed(rq.w, a.methods) })
	}
	// Anything else, including a prefix without its trailing slash (which
	// ServeMux would otherwise redirect), is not the API.
	notFound := func(rq *request) error {
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "no API at %q: see the paths under /v1/", rq.req.URL.Path)
	}
	handle("/", "unknown", notFound)
	for _, g := range guestRoutes {
		handle(strings.TrimSuffix(g.prefix, "/"), "unknown", notFound)
	}
	return mux
}

// dispatch runs the route of the authenticated request rq. A path that is
// not clean is refused here, before ServeMux would redirect it.
func (r *Runtime) dispatch(rq *request) error {
	p := rq.req.URL.Path
	if !strings.HasPrefix(p, "/") {
		// "*" (OPTIONS and any other method), which ServeMux answers
		// with a bare 400 without calling a route.
		rq.action = "unknown"
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "no API at %q: see the paths under /v1/", p)
	}
	if ep := rq.req.URL.EscapedPath(); !isClean(ep) {
		for _, g := range guestRoutes {
			if strings.HasPrefix(p, g.prefix) {
				rq.action = g.action
				if _, err := GuestPath(p, g.prefix); err != nil {
					return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%v", err)
				}
			}
		}
		return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "path %q is not clean (it has empty, \".\" or \"..\" elements): ask for %q", ep, path.Clean(ep))
	}
	req := rq.req.WithContext(context.WithValue(rq.req.Context(), routeKey{}, rq))
	r.mux.ServeHTTP(rq.w, req)
	return rq.err
}

func (r *Runtime) handlePolicy(rq *request) error {
	b := r.pol.Bytes()
	h := rq.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(api.HeaderSHA256, r.pol.HashHex())
	h.Set(api.HeaderPolicyChain, strings.Join(r.chainHashes(), ","))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rq.hashes = []string{r.pol.HashHex()}
	if rq.req.Method == http.MethodGet {
		_, _ = rq.w.Write(b)
	}
	return nil
}

func (r *Runtime) handlePolicyChain(rq *request) error {
	rq.hashes = r.chainHashes()
	writeJSON(rq.w, http.StatusOK, api.PolicyChain{Links: r.chain})
	return nil
}

func (r *Runtime) handleAttestation(rq *request) error {
	s := r.cert.Load()
	if s == nil {
		return newProblem(http.StatusConflict, api.ProblemNotReady, "the enclave has no certificate yet")
	}
	writeJSON(rq.w, http.StatusOK, api.Attestation{Platform: s.platform, Evidence: s.evidence, Chain: s.chain, Nonce: s.nonce})
	return nil
}

// handleAudit answers a page of the log. This request's own entry is
// appended as the response starts; it shows in the next read. The
// checkpoint covers the entries held up to the last sent.
func (r *Runtime) handleAudit(rq *request) error {
	after, limit, err := auditQuery(rq.req)
	if err != nil {
		return err
	}
	key, err := r.signer()
	if err != nil {
		return newProblem(http.StatusConflict, api.ProblemNotReady, "the enclave is stopping")
	}
	cp, entries, err := r.audit.Page(r.pol.HashHex(), after, limit, key)
	if err != nil {
		return err
	}
	writeJSON(rq.w, http.StatusOK, api.AuditLog{Entries: entries, Head: cp.Head, Checkpoint: cp})
	return nil
}

func (r *Runtime) handleReceipts(rq *request) error {
	entries, _ := r.audit.Entries()
	writeJSON(rq.w, http.StatusOK, api.Receipts{Receipts: r.keptReceipts(entries, rq.pr.Name)})
	return nil
}

func (r *Runtime) handleShutdown(rq *request) error {
	if !MayShutdown(rq.pr) {
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not shut the enclave down: only principals with an x (run) right may", rq.pr.Name)
	}
	writeJSON(rq.w, http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"shutting down"})
	if f, ok := rq.w.(http.Flusher); ok {
		f.Flush()
	}
	r.requestShutdown()
	return nil
}

// isClean reports whether ServeMux would route p as it is, rather than
// redirect it to a cleaner path.
func isClean(p string) bool {
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// guestAction is the action of a malformed path under prefix.
func guestAction(prefix string) string {
	for _, g := range guestRoutes {
		if g.prefix == prefix {
			return g.action
		}
	}
	return "unknown"
}
