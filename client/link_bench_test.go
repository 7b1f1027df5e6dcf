package client

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// BenchmarkLinkLargeAccount links a new device to an account with 1,000
// contacts and 10,000 messages of history over loopback (issue 20's
// figure: at most 5 s, at most twice the plaintext size on the wire):
//
//	go test -run '^$' -bench LinkLargeAccount -benchtime 3x ./client/
//
// It reports the seconds per link, the snapshot's size, the bytes stored
// at the relay for the transfer, and the plaintext: the contacts' handles
// and keys and the messages' bodies.
func BenchmarkLinkLargeAccount(b *testing.B) {
	s := startServers(b, engineSQLite)
	alice := s.newUser("alice")
	const contacts, perContact = 1000, 10
	var plain int64
	now := time.Now()
	err := alice.store.Update(b.Context(), func(tx localstore.Tx) error {
		for i := range contacts {
			h := fmt.Sprintf("contact%04d", i)
			var key [32]byte
			rand.Read(key[:])
			if err := tx.PutContact(localstore.Contact{Handle: h, AccountKey: key, KeySetVersion: 1, LogIndex: uint64(i)}); err != nil {
				return err
			}
			plain += int64(len(h) + len(key))
			for j := range perContact {
				text := fmt.Sprintf("message %d of the conversation with %s, long enough to look like a real one.", j, h)
				body, err := content.Marshal(&content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}}}})
				if err != nil {
					return err
				}
				id := make([]byte, 16)
				rand.Read(id)
				at := now.Add(-time.Duration(i*perContact+j) * time.Second)
				r := localstore.HistoryRow{Conversation: h, ID: id, Sender: h, SenderDevice: 1, Sent: at, Received: at,
					Body: append([]byte{payloadVersion2}, body...)}
				if j%2 == 0 {
					r.Sender, r.Outgoing = "alice", true
				}
				if _, err := tx.PutHistory(r); err != nil {
					return err
				}
				plain += int64(len(text))
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var wire int64
	b.ResetTimer()
	for range b.N {
		before := linkSentBytes.Load()
		l := s.startLink(b, b.Context(), b.TempDir(), "laptop")
		uri := l.waitURI(b)
		if _, err := alice.AddDevice(b.Context(), uri, AddDeviceOptions{HistoryDays: 30, Confirm: l.compareCodes(b)}); err != nil {
			b.Fatal(err)
		}
		if err := l.wait(b); err != nil {
			b.Fatal(err)
		}
		wire += linkSentBytes.Load() - before
		b.StopTimer()
		hs, err := l.c.History(b.Context(), "contact0999", 100)
		if err != nil || len(hs) != perContact {
			b.Fatalf("the linked device's history with contact0999: %d messages, %v", len(hs), err)
		}
		l.c.Close()
		// The account's device count grows by one per link.
		b.StartTimer()
	}
	b.ReportMetric(float64(wire)/float64(b.N), "wire-B/link")
	b.ReportMetric(float64(plain), "plaintext-B")
	b.ReportMetric(float64(wire)/float64(b.N)/float64(plain), "wire/plaintext")
}
