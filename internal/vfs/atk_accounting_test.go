package vfs

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
)

// TestAttackAccountingRandom: an attacker drives the file system from
// both sides at once, as principals (whole-file writes, appends, reads
// left open) and as guests in runs' overlays (handles writing at random
// offsets, truncations both ways, appends, renames and hard links across
// directories, removals, directories made and removed, handles and
// snapshots left open across commits and discards), tens of thousands of
// random steps. After every step the charges must equal what is alive
// (checkAccounting), never go negative, and never exceed the total limit;
// once everything is closed and removed, nothing may stay charged and the
// whole limit must be writable again. It guards the property; no
// sequence found breaks it.
func TestAttackAccountingRandom(t *testing.T) {
	const total = 40 << 10
	files := []string{"/in/a", "/in/b", "/out/a", "/out/b", "/out/d/c", "/both/a", "/both/b", "/top"}
	dirs := []string{"/in", "/out", "/out/d", "/both", "/out/e"}
	runCaps := []capability.Set{
		{"/in/": capability.Read, "/out/": capability.Read | capability.Write},
		{"/both/": capability.All, "/in/a": capability.Read | capability.Append},
		{"/": capability.All},
	}
	steps := 4000
	if testing.Short() {
		steps = 1000
	}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			f := New(Limits{FileBytes: 6 << 10, TotalBytes: total}, nil)
			admin := f.Unchecked()
			for _, d := range dirs[:4] {
				admin.MkdirAll(d)
			}
			type run struct {
				o    *Overlay
				v    *View
				caps capability.Set
			}
			var runs []*run
			var handles []*Handle
			var snaps []*Snapshot
			pick := func(s []string) string { return s[rng.IntN(len(s))] }
			data := func(most int) []byte { return bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(most)) }
			for i := range steps {
				v := admin
				if len(runs) > 0 && rng.IntN(3) > 0 {
					v = runs[rng.IntN(len(runs))].v
				}
				op := rng.IntN(17)
				switch op {
				case 0:
					v.WriteFile(pick(files), bytes.NewReader(data(7<<10)))
				case 1:
					v.AppendFile(pick(files), bytes.NewReader(data(600)))
				case 2, 3:
					fl := FlagRead | FlagWrite | FlagCreate
					if rng.IntN(4) == 0 {
						fl |= FlagTrunc
					}
					if h, err := v.OpenFile(pick(files), fl); err == nil {
						handles = append(handles, h)
					}
				case 4:
					if len(handles) > 0 {
						h := handles[rng.IntN(len(handles))]
						h.WriteAt(data(2000), int64(rng.IntN(7<<10)))
					}
				case 5:
					if len(handles) > 0 {
						handles[rng.IntN(len(handles))].Truncate(int64(rng.IntN(7 << 10)))
					}
				case 6:
					if len(handles) > 0 {
						handles[rng.IntN(len(handles))].Append(data(900))
					}
				case 7:
					if len(handles) > 0 {
						k := rng.IntN(len(handles))
						handles[k].Close()
						handles = append(handles[:k], handles[k+1:]...)
					}
				case 8:
					if s, err := v.Open(pick(files)); err == nil {
						snaps = append(snaps, s)
					}
				case 9:
					if len(snaps) > 0 {
						k := rng.IntN(len(snaps))
						snaps[k].Close()
						snaps = append(snaps[:k], snaps[k+1:]...)
					}
				case 10:
					v.Remove(pick(files))
				case 11:
					v.Rename(pick(files), pick(files))
				case 12:
					v.Link(pick(files), pick(files))
				case 13:
					if rng.IntN(2) == 0 {
						v.MkdirAll(pick(dirs))
					} else {
						v.Rmdir(pick(dirs))
					}
				case 14:
					if len(runs) < 3 {
						caps := runCaps[rng.IntN(len(runCaps))]
						if o, err := f.Overlay(caps); err == nil {
							runs = append(runs, &run{o: o, v: o.FS().View(caps), caps: caps})
						}
					}
				case 15, 16:
					if len(runs) > 0 {
						k := rng.IntN(len(runs))
						if op == 15 {
							runs[k].o.Commit()
						} else {
							runs[k].o.Discard()
						}
						runs = append(runs[:k], runs[k+1:]...)
					}
				}
				checkHeld(t, f, handles)
				f.mu.RLock()
				used, meta, retired, reserved := f.used, f.meta, f.retired, f.reserved
				f.mu.RUnlock()
				if used < 0 || meta < 0 || retired < 0 || reserved != 0 {
					t.Fatalf("step %d: charges used %d, meta %d, retired %d, reserved %d", i, used, meta, retired, reserved)
				}
				if used+meta > total {
					t.Fatalf("step %d (op %d): %d bytes charged, past the total limit of %d", i, op, used+meta, total)
				}
				if t.Failed() {
					t.Fatalf("step %d (op %d)", i, op)
				}
			}
			for _, h := range handles {
				h.Close()
			}
			for _, s := range snaps {
				s.Close()
			}
			for _, r := range runs {
				r.o.Discard()
			}
			for _, e := range liveEntries(f.root.order) {
				f.mu.Lock()
				if e.n.dir {
					f.dropTree(e.n)
				}
				f.unlink(f.root, e.name)
				f.mu.Unlock()
			}
			checkAccounting(t, f)
			if f.used != 0 || f.meta != 0 || f.retired != 0 || len(f.blobs) != 0 {
				t.Fatalf("everything removed, still charged: used %d, meta %d, retired %d, %d blobs", f.used, f.meta, f.retired, len(f.blobs))
			}
			// The whole limit is writable again, in files of the largest size.
			for k := 0; k < total/(6<<10)-1; k++ {
				if _, err := admin.WriteFile(fmt.Sprintf("/f%d", k), bytes.NewReader(make([]byte, 6<<10))); err != nil {
					t.Fatalf("file %d after the attack: %v", k, err)
				}
			}
		})
	}
}

// checkHeld checks the charges as checkAccounting does, counting also the
// files only open handles still hold (unlinked while open).
func checkHeld(t *testing.T, f *FS, handles []*Handle) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	var sum, retired, meta int64
	seen := map[*node]bool{}
	file := func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.b == nil {
			sum += int64(cap(n.data))
		} else if _, ok := f.blobs[n.b]; !ok {
			t.Errorf("a file shares a buffer the file system does not know")
		}
	}
	var walk func(d *node, shared map[*node]bool)
	walk = func(d *node, shared map[*node]bool) {
		for name, e := range d.entries {
			if shared[e.n] {
				continue
			}
			meta += entryCost(name, e.n.dir)
			if e.n.dir {
				walk(e.n, shared)
				continue
			}
			file(e.n)
		}
	}
	walk(f.root, nil)
	for o := range f.overlays {
		walk(o.fs.root, o.shared)
	}
	for _, h := range handles {
		if !h.n.dir && (h.n.data != nil || h.n.b != nil) {
			file(h.n)
		}
	}
	for b := range f.blobs {
		sum += int64(len(b.buf))
		if b.files == 0 {
			retired += int64(len(b.buf))
		}
		if b.files == 0 && b.readers == 0 {
			t.Errorf("a buffer of %d bytes nobody holds is still charged", len(b.buf))
		}
	}
	if sum != f.used || retired != f.retired || meta != f.meta {
		t.Errorf("buffers alive hold %d bytes (%d retired), entries cost %d; the file system charges %d (%d retired) and %d",
			sum, retired, meta, f.used, f.retired, f.meta)
	}
}

// TestAttackRenameGrowsPastTotal: a guest fills the total limit with
// files of one-letter names, then renames each to a name of MaxName
// bytes. Before the fix, a rename was never checked against the total
// limit although an entry is charged by its name's length, so the entries
// grew by half again past total_mib (the random test found it: 2 bytes
// past, renaming "a" to "top"). Now a rename to a longer name must fit.
func TestAttackRenameGrowsPastTotal(t *testing.T) {
	const total = 64 << 10
	f := New(Limits{TotalBytes: total}, nil)
	v := f.View(capability.Set{"/": capability.All})
	var made []string
	for i := 0; ; i++ {
		p := fmt.Sprintf("/%x", i)
		if _, err := v.WriteFile(p, bytes.NewReader(nil)); err != nil {
			break
		}
		made = append(made, p)
	}
	for i, p := range made {
		long := fmt.Sprintf("/%0*x", MaxName, i)
		v.Rename(p, long)
	}
	checkAccounting(t, f)
	f.mu.RLock()
	held := f.used + f.meta
	f.mu.RUnlock()
	if held > total {
		t.Errorf("%d files renamed hold %d bytes of entries, past the total limit of %d", len(made), held, total)
	}
	// Renaming back to short names, and over other files, still works.
	if err := v.Rename(fmt.Sprintf("/%0*x", MaxName, 0), "/0"); err != nil {
		t.Errorf("a rename to a shorter name: %v", err)
	}
}

// TestAttackGuestIgnoresUploadsInFlight: a principal's upload in flight
// reserves its bytes against the total limit as they arrive (they are in
// memory, in its buffer), but a guest's writes were checked against what
// the files hold only, not the reservations: with an upload of half the
// limit stalled before its end, a guest filled the whole limit, and the
// enclave held the limit and a half of bytes. Now the guest's writes count
// the reservations too, and the upload, when it lands, no longer counts
// its own twice.
func TestAttackGuestIgnoresUploadsInFlight(t *testing.T) {
	const total = 1 << 20
	f := New(Limits{FileBytes: total, TotalBytes: total}, nil)
	v := f.View(capability.Set{"/": capability.All})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := v.WriteFile("/upload", pr)
		done <- err
	}()
	if _, err := pw.Write(make([]byte, total/2)); err != nil {
		t.Fatal(err)
	}
	for {
		f.mu.RLock()
		r := f.reserved
		f.mu.RUnlock()
		if r >= total/2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The guest grows a file to what the files leave free.
	h, err := v.OpenFile("/guest", FlagCreate|FlagWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f.mu.RLock()
	room := total - f.used - f.meta
	f.mu.RUnlock()
	h.Truncate(room - 4096)
	f.mu.RLock()
	held := f.used + f.meta + f.reserved
	f.mu.RUnlock()
	if held > total {
		t.Errorf("files and uploads in flight hold %d bytes, past the total limit of %d", held, total)
	}
	pw.Close()
	<-done
	checkHeld(t, f, []*Handle{h})
	// Once the guest's file is gone, an upload of the whole room lands.
	h.Truncate(0)
	f.mu.RLock()
	room = total - f.used - f.meta - entryCost("upload", false)
	f.mu.RUnlock()
	if _, err := v.WriteFile("/upload", io.LimitReader(zeros{}, room)); err != nil {
		t.Errorf("an upload that fits exactly: %v", err)
	}
	checkHeld(t, f, []*Handle{h})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
