package dkim

import (
	"context"
	"io"
	"sync"
)

// dkimPipe carries the message to go-msgauth: the header block, then the
// body as Write gives it. Unlike io.Pipe it buffers up to dkimPipeSize, so
// Write returns while the keys are still being looked up; beyond that
// Write waits, and the memory stays bounded.
type dkimPipe struct {
	head    []byte // the header block, read first
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	off     int  // buf[off:] is still to be read
	wdone   bool // no more data: the reader gets EOF after buf
	rdone   bool // the reader is gone: writes are dropped
	aborted bool // buf was dropped
	lent    bool // WriteTo is writing buf[off:] out: do not move it
	stop    func() bool
}

// dkimNewPipe makes a pipe that aborts itself when ctx ends, so a Write
// waiting on it never outlives the session.
func dkimNewPipe(ctx context.Context, head []byte) *dkimPipe {
	p := &dkimPipe{head: head}
	p.cond.L = &p.mu
	p.stop = context.AfterFunc(ctx, p.abort)
	return p
}

// Read is go-msgauth's side of the pipe.
func (p *dkimPipe) Read(b []byte) (int, error) {
	if len(p.head) > 0 { // only the reader touches head: no lock
		n := copy(b, p.head)
		if p.head = p.head[n:]; len(p.head) == 0 {
			p.head = nil // let the block go
		}
		return n, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.off == len(p.buf) && !p.wdone {
		p.cond.Wait()
	}
	if p.off == len(p.buf) {
		return 0, io.EOF
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	if p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
	}
	p.cond.Broadcast()
	return n, nil
}

// WriteTo hands the body to w straight from the pipe's buffer, sparing
// go-msgauth the 32 KiB copy buffer io.Copy would make per message.
func (p *dkimPipe) WriteTo(w io.Writer) (int64, error) {
	total, err := int64(len(p.head)), error(nil)
	if len(p.head) > 0 {
		_, err = w.Write(p.head)
		p.head = nil
	}
	if err != nil {
		return total, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.off == len(p.buf) && !p.wdone {
			p.cond.Wait()
		}
		if p.off == len(p.buf) || p.aborted {
			return total, nil
		}
		chunk := p.buf[p.off:len(p.buf):len(p.buf)]
		p.lent = true
		p.mu.Unlock()
		n, err := w.Write(chunk)
		p.mu.Lock()
		p.lent = false
		total += int64(n)
		if err != nil || p.aborted {
			return total, err
		}
		// reserve may have moved the data to a new buffer meanwhile, but
		// it still starts with chunk.
		p.off += n
		if p.off == len(p.buf) {
			p.buf, p.off = p.buf[:0], 0
		}
		p.cond.Broadcast()
	}
}

// write queues b, waiting while the pipe is full.
func (p *dkimPipe) write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		for !p.wdone && !p.rdone && len(p.buf)-p.off >= dkimPipeSize {
			p.cond.Wait()
		}
		if p.wdone || p.rdone {
			return
		}
		n := min(len(b), dkimPipeSize-(len(p.buf)-p.off))
		p.reserve(n)
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		p.cond.Broadcast()
	}
}

// reserve makes room for n more bytes, moving the unread ones to the
// front (unless WriteTo has them out) or to a larger buffer, never beyond
// dkimPipeSize.
func (p *dkimPipe) reserve(n int) {
	pending := len(p.buf) - p.off
	switch {
	case len(p.buf)+n <= cap(p.buf):
	case pending+n <= cap(p.buf) && !p.lent:
		copy(p.buf, p.buf[p.off:])
		p.buf, p.off = p.buf[:pending], 0
	default:
		nb := make([]byte, pending, min(dkimPipeSize, max(2*cap(p.buf), pending+n, 4096)))
		copy(nb, p.buf[p.off:])
		p.buf, p.off = nb, 0
	}
}

// closeWrite marks the end of the body.
func (p *dkimPipe) closeWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdone = true
	p.cond.Broadcast()
}

// abort ends the body now: what is queued is dropped.
func (p *dkimPipe) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdone, p.aborted = true, true
	p.buf, p.off = nil, 0
	p.cond.Broadcast()
}

// closeRead is called when go-msgauth is done reading.
func (p *dkimPipe) closeRead() {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rdone, p.aborted = true, true
	p.buf, p.off = nil, 0
	p.cond.Broadcast()
}
