package blobs

import (
	"context"
	"errors"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// sweepBatch is how many expired blobs and uploads one round of Sweep
// takes from the database.
const sweepBatch = 256

// Sweep deletes the blobs and uploads expired at now (spec/attachments.md
// §4.7): each from the engine first, then from the database, so a crash
// between the two leaves a row the next sweep deletes again, never bytes
// no row names. It returns how many of each it deleted, and the first
// error; what failed is left for the next sweep.
func (s *Server) Sweep(ctx context.Context, now time.Time) (blobs, uploads int, err error) {
	for {
		bs, us, err := s.meta.Expired(ctx, now, sweepBatch)
		if err != nil {
			return blobs, uploads, err
		}
		var errs []error
		for _, b := range bs {
			if err := s.engine.Delete(ctx, b.Key); err != nil {
				errs = append(errs, hideKey(err, b.Key))
				continue
			}
			if err := s.meta.DeleteBlob(ctx, b.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
			blobs++
			s.m.swept.WithLabelValues("blob").Inc()
		}
		for _, u := range us {
			if err := s.engine.AbortUpload(ctx, u.Key, u.Handle); err != nil {
				errs = append(errs, hideKey(err, u.Key))
				continue
			}
			// An upload expired after its engine upload completed (a crash
			// before its row became a blob) left bytes under its key.
			if err := s.engine.Delete(ctx, u.Key); err != nil {
				errs = append(errs, hideKey(err, u.Key))
				continue
			}
			if err := s.meta.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
			uploads++
			s.m.swept.WithLabelValues("upload").Inc()
		}
		if len(errs) > 0 {
			return blobs, uploads, errors.Join(errs...)
		}
		if len(bs) < sweepBatch && len(us) < sweepBatch {
			return blobs, uploads, nil
		}
	}
}

// Run sweeps every SweepInterval until ctx is done.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, u, err := s.Sweep(ctx, s.cfg.Now())
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blobs: sweep failed; the next one retries", "err", err)
		}
		if b > 0 || u > 0 {
			s.log.Info("blobs: swept expired", "blobs", b, "uploads", u)
		}
	}
}
