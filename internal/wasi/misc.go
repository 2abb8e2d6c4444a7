package wasi

import (
	"context"
	"io"
	"math"
	"time"
)

// listSizes returns the count and total bytes (with NUL terminators) of a
// string list.
func listSizes(l []string) (uint32, uint32) {
	var n uint64
	for _, s := range l {
		n += uint64(len(s)) + 1
	}
	return uint32(len(l)), uint32(min(n, math.MaxUint32))
}

// putList writes l as args_get and environ_get do: pointers at ptrs,
// NUL-terminated strings at buf. Nothing is written unless all fits.
func putList(m mem, l []string, ptrs, buf uint32) Errno {
	count, size := listSizes(l)
	if uint64(count)*4 > math.MaxUint32 {
		return ErrnoFault
	}
	pb, ok := m.slice(ptrs, count*4)
	if !ok {
		return ErrnoFault
	}
	bb, ok := m.slice(buf, size)
	if !ok {
		return ErrnoFault
	}
	off := uint32(0)
	for i, s := range l {
		le.PutUint32(pb[i*4:], buf+off)
		off += uint32(copy(bb[off:], s))
		bb[off] = 0
		off++
	}
	return ErrnoSuccess
}

func putSizes(m mem, l []string, countPtr, sizePtr uint32) Errno {
	count, size := listSizes(l)
	if _, ok := m.slice(countPtr, 4); !ok {
		return ErrnoFault
	}
	if !m.putU32(sizePtr, size) {
		return ErrnoFault
	}
	m.putU32(countPtr, count)
	return ErrnoSuccess
}

func argsGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	return putList(m, s.args, u32(p[0]), u32(p[1])), nil
}

func argsSizesGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	return putSizes(m, s.args, u32(p[0]), u32(p[1])), nil
}

func environGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	return putList(m, s.env, u32(p[0]), u32(p[1])), nil
}

func environSizesGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	return putSizes(m, s.env, u32(p[0]), u32(p[1])), nil
}

// clockNow reads clock id in nanoseconds.
func (s *System) clockNow(id uint32) (uint64, Errno) {
	switch id {
	case clockRealtime:
		return nanos(s.now()), ErrnoSuccess
	case clockMonotonic:
		return uint64(max(s.nanotime(), 0)), ErrnoSuccess
	case clockProcessCputime, clockThreadCputime:
		return 0, ErrnoNotsup
	}
	return 0, ErrnoInval
}

func clockResGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	if _, errno := s.clockNow(u32(p[0])); errno != 0 {
		return errno, nil
	}
	if !m.putU64(u32(p[1]), 1) {
		return ErrnoFault, nil
	}
	return ErrnoSuccess, nil
}

func clockTimeGet(_ context.Context, s *System, m mem, p []uint64) (Errno, error) {
	t, errno := s.clockNow(u32(p[0]))
	if errno != 0 {
		return errno, nil
	}
	if !m.putU64(u32(p[2]), t) {
		return ErrnoFault, nil
	}
	return ErrnoSuccess, nil
}

// randomChunk is how many random bytes random_get reads at a time,
// checking between chunks that the run may go on: a guest may ask for
// its whole memory (4 GiB) in one call, which takes seconds.
const randomChunk = 1 << 20

// randomGet is random_get(buf, buf_len): the bytes go straight into guest
// memory, a chunk at a time, and the call stops (aborting the program)
// when the run's context ends.
func randomGet(ctx context.Context, s *System, m mem, p []uint64) (Errno, error) {
	b, ok := m.slice(u32(p[0]), u32(p[1]))
	if !ok {
		return ErrnoFault, nil
	}
	for len(b) > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := min(len(b), randomChunk)
		if _, err := io.ReadFull(s.rand, b[:k]); err != nil {
			return ErrnoIo, nil
		}
		b = b[k:]
	}
	return ErrnoSuccess, nil
}

func procExit(_ context.Context, _ *System, _ mem, p []uint64) (Errno, error) {
	return 0, &ExitError{Code: u32(p[0])}
}

// procRaise is proc_raise(sig): there are no signals in a run.
func procRaise(context.Context, *System, mem, []uint64) (Errno, error) {
	return ErrnoNotsup, nil
}

func schedYield(context.Context, *System, mem, []uint64) (Errno, error) {
	return ErrnoSuccess, nil
}

// The socket functions: a run has no sockets, so a valid fd is ENOTSOCK
// and an invalid one EBADF, as wasmtime answers.
func sockAccept(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	return notSock(s, u32(p[0])), nil
}

func sockRecv(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	return notSock(s, u32(p[0])), nil
}

func sockSend(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	return notSock(s, u32(p[0])), nil
}

func sockShutdown(_ context.Context, s *System, _ mem, p []uint64) (Errno, error) {
	return notSock(s, u32(p[0])), nil
}

func notSock(s *System, fd uint32) Errno {
	if _, errno := s.get(fd); errno != 0 {
		return errno
	}
	return ErrnoNotsock
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents). File
// descriptors are always ready (memory never blocks); clock
// subscriptions wait, through Config.Sleep, until the earliest is due
// when no fd is ready.
func pollOneoff(ctx context.Context, s *System, m mem, p []uint64) (Errno, error) {
	in, out, n, resPtr := u32(p[0]), u32(p[1]), u32(p[2]), u32(p[3])
	if n == 0 {
		return ErrnoInval, nil
	}
	if n > maxPollSubscriptions {
		return ErrnoInval, nil
	}
	subs, ok := m.slice(in, n*subscriptionSize)
	if !ok {
		return ErrnoFault, nil
	}
	evs, ok := m.slice(out, n*eventSize)
	if !ok {
		return ErrnoFault, nil
	}
	if _, ok := m.slice(resPtr, 4); !ok {
		return ErrnoFault, nil
	}
	// Copy the subscriptions: out may overlap in.
	subs = append([]byte(nil), subs...)
	type clockSub struct {
		userdata uint64
		wait     time.Duration
	}
	// Sized once for n, so that a call allocates a fixed amount (about
	// 96 bytes a subscription, 6 MiB at most), never growing as it goes.
	var (
		ready  = make([][eventSize]byte, 0, n)
		clocks = make([]clockSub, 0, n)
	)
	event := func(userdata uint64, errno Errno, typ byte, nbytes uint64) {
		var ev [eventSize]byte
		le.PutUint64(ev[0:], userdata)
		le.PutUint16(ev[8:], uint16(errno))
		ev[10] = typ
		le.PutUint64(ev[16:], nbytes)
		ready = append(ready, ev)
	}
	s.mu.Lock()
	for i := range n {
		sub := subs[i*subscriptionSize:][:subscriptionSize]
		userdata, tag := le.Uint64(sub[0:]), sub[8]
		switch tag {
		case eventtypeClock:
			id, timeout, flags := le.Uint32(sub[16:]), le.Uint64(sub[24:]), le.Uint16(sub[40:])
			now, errno := s.clockNow(id)
			if errno != 0 {
				event(userdata, errno, tag, 0)
				continue
			}
			wait := timeout
			if flags&subclockflagAbstime != 0 {
				wait = 0
				if timeout > now {
					wait = timeout - now
				}
			}
			clocks = append(clocks, clockSub{userdata, time.Duration(min(wait, math.MaxInt64))})
		case eventtypeFdRead, eventtypeFdWrite:
			fd := le.Uint32(sub[16:])
			e, errno := s.get(fd)
			if errno != 0 {
				event(userdata, errno, tag, 0)
				continue
			}
			var nbytes uint64
			switch {
			case e.kind == kindDir:
				event(userdata, ErrnoBadf, tag, 0)
				continue
			case tag == eventtypeFdRead && e.kind == kindFile:
				if size := e.h.Size(); size > e.pos {
					nbytes = uint64(size - e.pos)
				}
			case tag == eventtypeFdRead && e.kind != kindStdin,
				tag == eventtypeFdWrite && e.kind == kindStdin:
				event(userdata, ErrnoBadf, tag, 0)
				continue
			}
			event(userdata, ErrnoSuccess, tag, nbytes)
		default:
			s.mu.Unlock()
			return ErrnoInval, nil
		}
	}
	s.mu.Unlock()
	if len(ready) == 0 && len(clocks) > 0 {
		first := clocks[0].wait
		for _, c := range clocks[1:] {
			first = min(first, c.wait)
		}
		if first > 0 {
			if err := s.sleep(ctx, first); err != nil {
				return 0, err
			}
		}
		for _, c := range clocks {
			if c.wait <= first {
				event(c.userdata, ErrnoSuccess, eventtypeClock, 0)
			}
		}
	} else {
		for _, c := range clocks {
			if c.wait <= 0 {
				event(c.userdata, ErrnoSuccess, eventtypeClock, 0)
			}
		}
	}
	for i, ev := range ready {
		copy(evs[i*eventSize:], ev[:])
	}
	m.putU32(resPtr, uint32(len(ready)))
	return ErrnoSuccess, nil
}
