package link_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
)

// A whole link, both sides in one process; in a client each side runs on
// its own device and the messages travel through link mailboxes
// (spec/linking.md §1.2).
func Example() {
	now := time.Now()
	// N: device keys, a mailbox (its link id comes from the mailbox
	// secret, spec/relay.md §17), the offer and the URI to show.
	dev, _ := keys.GenerateDeviceKeys(rand.Reader)
	var linkID, replyID [link.IDSize]byte
	rand.Read(linkID[:])
	rand.Read(replyID[:])
	n, err := link.NewResponder(rand.Reader, "wss://relay.example/v1/relay", linkID, dev.Public(), "Laptop", now.Add(10*time.Minute))
	if err != nil {
		panic(err)
	}
	shown := n.URI().String()

	// E: parse the URI, fetch the offer by link id, make msg1.
	u, err := link.ParseURI(shown)
	if err != nil {
		panic(err)
	}
	e, _, msg1, err := link.Initiate(rand.Reader, u, n.Offer(), replyID, now)
	if err != nil {
		panic(err)
	}

	// N: accept msg1, send msg2 to the reply mailbox, show the code.
	nch, _, msg2, nCode, err := n.Accept(msg1)
	if err != nil {
		panic(err)
	}
	// E: finish, show N's name (it came inside msg2, encrypted: the
	// relay never saw it) and the code; the person confirms.
	ech, eCode, err := e.Finish(msg2)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Name(), nCode == eCode)

	// E → N: records (Account, then the snapshot's chunks).
	sealed, _ := ech.Seal(&link.SnapshotChunk{Data: []byte("state")})
	rec, _ := nch.Open(sealed)
	fmt.Printf("%s %s\n", rec.Type(), rec.(*link.SnapshotChunk).Data)
	// A redelivery is reported, to be dropped.
	_, err = nch.Open(sealed)
	fmt.Println(err)
	// Output:
	// Laptop true
	// SnapshotChunk state
	// link: duplicate record: sequence number 1
}
