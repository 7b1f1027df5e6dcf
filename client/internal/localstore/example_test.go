//go:build !js

package localstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
)

// A received message, its new session state and the processed envelope id
// are stored in one transaction.
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "localstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "alice")

	unlock := localstore.Passphrase([]byte("correct horse battery staple")).WithWorkFactor(10)
	s, err := localstore.Create(ctx, dir, unlock)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	err = s.Update(ctx, func(tx localstore.Tx) error {
		if err := tx.PutSession(localstore.Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("ratchet state"), Updated: now}); err != nil {
			return err
		}
		if _, err := tx.PutInbox(localstore.InboxMessage{ID: []byte("id-1"), Sender: "bob", SenderDevice: 1, Time: now, Plaintext: []byte("hello alice")}); err != nil {
			return err
		}
		_, err := tx.MarkProcessed([]byte("envelope-1"), now)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	s.Close()

	if _, err := localstore.Open(ctx, dir, localstore.Passphrase([]byte("wrong"))); err != nil {
		fmt.Println(err)
	}
	s, err = localstore.Open(ctx, dir, unlock)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx localstore.Tx) error {
		msgs, err := tx.Undelivered(10)
		for _, m := range msgs {
			fmt.Printf("%s: %s\n", m.Sender, m.Plaintext)
			clear(m.Plaintext)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// localstore: wrong passphrase
	// bob: hello alice
}
