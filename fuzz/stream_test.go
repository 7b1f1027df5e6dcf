package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/sealpost/sealpost/crypto/stream"
	"github.com/sealpost/sealpost/internal/vectors"
)

// streamSeedMax bounds the ciphertexts used as seeds, so that the fuzzer's
// inputs stay small; the vector file's larger streams are left out.
const streamSeedMax = 1 << 13

type streamSeed struct {
	key *[stream.KeySize]byte
	n   int64
	ct  []byte
}

// streamSeeds returns, from spec/vectors/attachments.json, every key and
// every encrypt and open case's ciphertext (built from its from case and
// edits) of at most streamSeedMax bytes, with its n.
func streamSeeds(f *testing.F) (keys []*[stream.KeySize]byte, seeds []streamSeed) {
	file, err := vectors.Load[vectors.AttachmentCase]("attachments.json")
	if err != nil {
		f.Fatal(err)
	}
	streams := map[string][]byte{}
	for _, v := range file.Cases {
		if v.Op == "pad" {
			continue
		}
		if len(v.Key) != stream.KeySize {
			f.Fatalf("%s: key of %d bytes", v.ID, len(v.Key))
		}
		key := (*[stream.KeySize]byte)(v.Key)
		keys = append(keys, key)
		var ct []byte
		switch {
		case v.Op == "encrypt":
			var out bytes.Buffer
			w := stream.NewWriter(key, &out)
			if _, err := w.Write(v.Expand()); err != nil {
				f.Fatal(err)
			}
			if err := w.Close(); err != nil {
				f.Fatal(err)
			}
			ct = out.Bytes()
			streams[v.ID] = ct
		case v.From != "":
			base, ok := streams[v.From]
			if !ok {
				f.Fatalf("%s: from %q: no such encrypt case", v.ID, v.From)
			}
			if ct, err = vectors.ApplyEdits(base, v.Edits); err != nil {
				f.Fatalf("%s: %v", v.ID, err)
			}
		default:
			ct = v.Ciphertext
		}
		if len(ct) <= streamSeedMax {
			seeds = append(seeds, streamSeed{key, v.N, ct})
		}
	}
	if len(seeds) == 0 {
		f.Fatal("no stream seeds in attachments.json")
	}
	return keys, seeds
}

// FuzzStreamDecrypt opens arbitrary bytes as the stream of a file of n
// bytes under one of the keys of spec/vectors/attachments.json, picked by
// which (spec/attachments.md §2.5). It checks that nothing panics; that
// Decrypt and a Reader read to the end accept the same inputs and give the
// same plaintext; that a refusal is ErrCorrupt or ErrTooLarge, the same from
// both; and that an accepted ciphertext is exactly what the Writer makes of
// the plaintext under the same key.
func FuzzStreamDecrypt(f *testing.F) {
	keys, seeds := streamSeeds(f)
	for _, s := range seeds {
		for i, k := range keys {
			if k == s.key {
				f.Add(uint8(i), s.n, bytes.Clone(s.ct))
				break
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, n int64, ct []byte) {
		key := keys[int(which)%len(keys)]
		kind := func(err error) error {
			switch {
			case err == nil:
				return nil
			case errors.Is(err, stream.ErrCorrupt):
				return stream.ErrCorrupt
			case errors.Is(err, stream.ErrTooLarge):
				return stream.ErrTooLarge
			}
			t.Fatalf("error of unknown kind: %v", err)
			return nil
		}

		var dec bytes.Buffer
		derr := kind(stream.Decrypt(&dec, key, bytes.NewReader(ct), n))

		var got []byte
		r, rerr := stream.NewReader(key, bytes.NewReader(ct), n)
		if rerr == nil {
			got, rerr = io.ReadAll(r)
		}
		rerr = kind(rerr)

		if derr != rerr {
			t.Fatalf("Decrypt (%v) and Reader (%v) disagree", derr, rerr)
		}
		if derr != nil {
			return
		}
		if int64(dec.Len()) != n || !bytes.Equal(dec.Bytes(), got) {
			t.Fatalf("Decrypt gave %d bytes, Reader %d, n = %d", dec.Len(), len(got), n)
		}
		var again bytes.Buffer
		w := stream.NewWriter(key, &again)
		if _, err := w.Write(got); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), ct) {
			t.Fatal("an accepted ciphertext is not what the Writer makes of its plaintext")
		}
	})
}
