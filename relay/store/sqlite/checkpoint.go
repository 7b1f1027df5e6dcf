package sqlite

import (
	"context"
	"time"
)

// Checkpoints. A WAL checkpoint copies committed pages from the -wal file
// into the database file and fsyncs it. SQLite runs one in the committing
// connection when the WAL passes wal_autocheckpoint pages, which would put
// that copy and fsync on the writer goroutine, in front of every Send
// waiting for the next batch. Instead a goroutine of its own, on a
// connection of its own, runs PASSIVE checkpoints (which never block the
// writer) soon after commits. The writer keeps a high autocheckpoint
// threshold as a backstop: a passive checkpoint cannot restart the WAL
// while the writer keeps appending, so when the WAL passes autoCheckpoint
// pages the writer checkpoints once itself, cheaply since nearly
// everything is already copied, and the WAL starts over.

const (
	// autoCheckpointPages is the writer's wal_autocheckpoint.
	autoCheckpointPages = 16384
	// checkpointEvery is the least time between background checkpoints.
	checkpointEvery = 50 * time.Millisecond
)

// startCheckpointer starts the checkpoint goroutine on q.ckDB.
func (q *Queue) startCheckpointer() {
	q.ckKick = make(chan struct{}, 1)
	q.ckQuit = make(chan struct{})
	q.ckDone = make(chan struct{})
	go q.checkpointer()
}

// stopCheckpointer stops it.
func (q *Queue) stopCheckpointer() {
	close(q.ckQuit)
	<-q.ckDone
}

// kickCheckpointer tells the checkpoint goroutine that the WAL grew.
func (q *Queue) kickCheckpointer() {
	select {
	case q.ckKick <- struct{}{}:
	default:
	}
}

func (q *Queue) checkpointer() {
	defer close(q.ckDone)
	for {
		select {
		case <-q.ckKick:
		case <-q.ckQuit:
			return
		}
		// A failed checkpoint is harmless: the next one, or the writer's,
		// copies the same pages.
		var busy, log, done int
		_ = q.ckDB.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
		select {
		case <-time.After(checkpointEvery):
		case <-q.ckQuit:
			return
		}
	}
}
