package clientconf

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/hint"
)

// Streams are where a client command reads stdin and reports. Nil writers
// discard and a nil In reads nothing.
type Streams struct {
	In          io.Reader
	Out, Errors io.Writer
}

func (s Streams) out() io.Writer    { return orDiscard(s.Out) }
func (s Streams) errors() io.Writer { return orDiscard(s.Errors) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Progress is a progress bar on w when w is a terminal, else nil; size -1
// means unknown.
func Progress(w io.Writer, size int64, what string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100e6))
}

// Upload writes (or, with appendMode, appends) the local file, or st.In
// for "-", to guest in the enclave c names, and reports what the enclave
// stored on st.Out: size and hash, and the commitment's salt of a
// committed file.
func Upload(ctx context.Context, c *Config, st Streams, local, guest string, appendMode bool) error {
	if err := c.Complete(); err != nil {
		return err
	}
	var in io.Reader = st.In
	if in == nil {
		in = eofReader{}
	}
	size := int64(-1)
	if local != "-" {
		f, err := os.Open(local)
		if err != nil {
			return hint.With(fmt.Errorf("reading %s: %w", local, err), "give an existing file, or - for stdin")
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		in = f
	}
	s, _, err := Dial(ctx, c)
	if err != nil {
		return err
	}
	defer s.Close()
	if bar := Progress(st.Errors, size, "uploading"); bar != nil {
		r := progressbar.NewReader(in, bar)
		in = &r
		defer bar.Finish()
	}
	var fi *client.FileInfo
	if appendMode {
		fi, err = s.Append(ctx, guest, in)
	} else {
		fi, err = s.Put(ctx, guest, in)
	}
	if err != nil {
		return Advise(err)
	}
	out := st.out()
	if fi.SHA256 != "" {
		fmt.Fprintf(out, "%s %s: %d bytes, sha256 %s\n", map[bool]string{false: "wrote", true: "appended to"}[appendMode], fi.Path, fi.Size, fi.SHA256)
	} else {
		fmt.Fprintf(out, "appended %d bytes to %s (you may not read it: neither its size nor a hash of the whole is shown)\n", fi.Size, fi.Path)
	}
	if fi.Salt != "" {
		// The file's version is named by commitment in the audit
		// log and receipts; only its writer and readers get the salt.
		fmt.Fprintf(out, "commitment %s, salt %s\n", fi.Commitment, fi.Salt)
		fmt.Fprintf(out, "keep the salt to check a receipt names these bytes: truce receipt verify --input %s=%s:LOCALFILE …\n", fi.Path, fi.Salt)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Download reads guest from the enclave c names into the local file dest
// (written whole or not at all), or onto st.Out for "-", and reports what
// it read on st.Errors.
func Download(ctx context.Context, c *Config, st Streams, guest, dest string) error {
	s, _, err := Dial(ctx, c)
	if err != nil {
		return err
	}
	defer s.Close()
	if dest == "-" {
		_, err := s.Get(ctx, guest, st.out())
		return Advise(err)
	}
	var fi *client.FileInfo
	var getErr error
	err = atomicfile.WriteFrom(dest, 0o600, func(w io.Writer) error {
		if bar := Progress(st.Errors, -1, "downloading"); bar != nil {
			w = io.MultiWriter(w, bar)
			defer bar.Finish()
		}
		fi, getErr = s.Get(ctx, guest, w)
		return getErr
	})
	if getErr != nil {
		return Advise(getErr)
	}
	if err != nil {
		return hint.With(err, "choose a writable place for LOCALFILE")
	}
	fmt.Fprintf(st.errors(), "read %s: %d bytes, sha256 %s → %s\n", fi.Path, fi.Size, fi.SHA256, dest)
	if fi.Salt != "" {
		fmt.Fprintf(st.errors(), "commitment %s, salt %s (check a receipt: truce receipt verify --output %s=%s:%s …)\n", fi.Commitment, fi.Salt, fi.Path, fi.Salt, dest)
	}
	return nil
}

// CheckedAudit fetches the enclave's audit log over s and checks it
// against the enclave's key: the log and whether its checkpoint's
// signature was checked too (audit.VerifyServed).
func CheckedAudit(ctx context.Context, s *client.Session) (*api.AuditLog, bool, error) {
	l, err := s.Audit(ctx)
	if err != nil {
		return nil, false, Advise(err)
	}
	var pub *ecdsa.PublicKey
	if _, chain := s.Enclave(); len(chain) > 0 {
		pub, _ = chain[0].PublicKey.(*ecdsa.PublicKey)
	}
	checked, err := audit.VerifyServed(l.Entries, l.Head, l.Checkpoint, pub)
	if err != nil {
		return nil, false, hint.With(fmt.Errorf("the audit log does not check: %w", err), "do not trust this enclave's log")
	}
	return l, checked, nil
}

// WriteJSON writes v to w as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// SaveReceipt writes a receipt to file as JSON, saying so on w; it does
// nothing for an empty file.
func SaveReceipt(w io.Writer, file string, v any) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the receipt: %w", err)
	}
	if err := atomicfile.Write(file, append(b, '\n'), 0o644); err != nil {
		return hint.With(fmt.Errorf("saving the receipt: %w", err), "choose a writable --receipt file")
	}
	fmt.Fprintf(orDiscard(w), "receipt saved to %s (check it with: truce receipt verify --policy POLICY %s)\n", file, file)
	return nil
}
