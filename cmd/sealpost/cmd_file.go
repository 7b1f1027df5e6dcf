package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Files (spec/attachments.md): send --file, listen --save-dir, get.

// errFileQueued marks a file send that stopped after the file was
// recorded: it goes on later (hint).
var errFileQueued = errors.New("the file is recorded")

// sendFile sends the file at path to handle (or group gid) and prints the
// message id.
func (a *app) sendFile(ctx context.Context, c *client.Client, handle string, gid *client.GroupID, path, caption, mimeType string, opts []client.SendOption) (client.MessageID, error) {
	f, err := os.Open(path)
	if err != nil {
		return client.MessageID{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return client.MessageID{}, err
	}
	if !st.Mode().IsRegular() {
		return client.MessageID{}, usagef("--file %s: not a regular file", path)
	}
	if mimeType == "" {
		mimeType = guessMIME(f, path)
	}
	info := client.FileInfo{Name: filepath.Base(path), MIME: mimeType, Size: st.Size(), Caption: caption}
	p := newProgress(a.stderr, a.stderrTTY && !a.json, "encrypting "+filepath.Base(path))
	phase := 0
	opts = append(opts, client.WithProgress(func(done, total int64) {
		// The encryption counts the file, the upload the ciphertext.
		if phase == 0 && total != st.Size() {
			p.finish()
			p = newProgress(a.stderr, a.stderrTTY && !a.json, "uploading "+filepath.Base(path))
			phase = 1
		}
		p.update(done, total)
	}))
	var id client.MessageID
	if gid != nil {
		id, err = c.SendGroupFile(ctx, *gid, f, info, opts...)
	} else {
		id, err = c.SendFile(ctx, handle, f, info, opts...)
	}
	p.finish()
	return id, err
}

// guessMIME is the content type of a file by its extension, else by its
// first bytes.
func guessMIME(f *os.File, path string) string {
	if t := mime.TypeByExtension(filepath.Ext(path)); t != "" {
		return t
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	return http.DetectContentType(head[:n])
}

// saveAttachment downloads att into dir under a name made safe from the
// sender's (client.SafeFileName), never replacing a file: "name (1).ext"
// and so on when taken. The file appears only once complete and verified.
func (a *app) saveAttachment(ctx context.Context, c *client.Client, att *client.Attachment, dir string) (string, error) {
	// One partial file a blob, replaced by the next attempt: a run
	// killed while writing leaves at most this one, which the next
	// attempt removes.
	tmp, err := os.OpenFile(partialName(dir, att), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	name := client.SafeFileName(att.FileName)
	p := newProgress(a.stderr, a.stderrTTY && !a.json, "downloading "+name)
	err = c.Download(ctx, att, tmp, client.DownloadProgress(p.update))
	p.finish()
	if err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return placeFile(tmp.Name(), dir, name)
}

// partialName is the file a download into dir is written to until it is
// complete: hidden, named by the blob.
func partialName(dir string, att *client.Attachment) string {
	return filepath.Join(dir, fmt.Sprintf(".sealpost-partial-%x", att.BlobID[:8]))
}

// placeFile links the finished file src into dir under name, or the
// first free "name (n)": never over an existing file.
func placeFile(src, dir, name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for n := 0; n < 10000; n++ {
		cand := name
		if n > 0 {
			cand = base + " (" + strconv.Itoa(n) + ")" + ext
		}
		dst := filepath.Join(dir, cand)
		err := os.Link(src, dst)
		if err == nil {
			return dst, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// checkSaveDir checks that dir is a directory this user can write.
func checkSaveDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return usagef("--save-dir: %v", err)
	}
	if !st.IsDir() {
		return usagef("--save-dir %s: not a directory", dir)
	}
	return nil
}

type jsonSaved struct {
	Event string `json:"event"` // "file-saved"
	ID    string `json:"id"`
	Path  string `json:"path"`
	Size  int64  `json:"size"`
}

// saveFrom saves the attachment of m into dir, if it has one, and says
// where.
func (a *app) saveFrom(ctx context.Context, c *client.Client, m *client.Message, dir string) {
	att := client.AttachmentOf(m.Content)
	if att == nil || dir == "" {
		return
	}
	path, err := a.saveAttachment(ctx, c, att, dir)
	if err != nil {
		a.notef("sealpost: could not save the file of %s: %s\n", shortID(m.ID), describe(err))
		return
	}
	if a.json {
		a.emit(jsonSaved{Event: "file-saved", ID: m.ID.String(), Path: path, Size: att.Size})
		return
	}
	a.notef("sealpost: saved %s to %s\n", shortID(m.ID), escapeText([]byte(path), false))
}

var getCommand = &command{
	name:    "get",
	usage:   "get HANDLE ID",
	summary: "download the file of a message",
	help: `
Downloads the file that message ID (its 32 hex digits, or a unique prefix
of at least 4, as listen and history show it) of the conversation with
HANDLE points to, checks it, and saves it in the current directory (or
--save-dir) under the sender's file name made safe (no path, no control
characters; "name (1).ext" if taken), or writes it to --output (- for
standard output). Nothing is written unless the whole file arrived and is
authentic. An interrupted download resumes where it stopped the next time.
`,
	setup: func(fs *flag.FlagSet) runner {
		dir := fs.String("save-dir", ".", "save into `DIR`")
		output := fs.String("output", "", "write the file to `PATH` (- for standard output) instead")
		timeout := fs.Duration("timeout", 0, "give up after `D` (0: never)")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 2, "HANDLE ID"); err != nil {
				return err
			}
			if err := keys.CheckHandle(args[0]); err != nil {
				return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
			}
			if *output == "" {
				if err := checkSaveDir(*dir); err != nil {
					return err
				}
			}
			if *timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, *timeout)
				defer cancel()
			}
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				_, entry, err := resolveID(ctx, c, args[0], args[1])
				if err != nil {
					return err
				}
				if entry == nil {
					return fmt.Errorf("message %s is not in this device's history with %s: %w", args[1], args[0], client.ErrUnknownMessage)
				}
				att := client.AttachmentOf(entry.Content)
				if att == nil {
					return fmt.Errorf("message %s has no file", entry.ID)
				}
				var path string
				switch *output {
				case "":
					path, err = a.saveAttachment(ctx, c, att, *dir)
				case "-":
					path = "-"
					err = c.Download(ctx, att, a.stdout)
				default:
					path = *output
					err = a.writeNew(ctx, c, att, *output)
				}
				if err != nil {
					return err
				}
				if a.json {
					a.emit(jsonSaved{Event: "file-saved", ID: entry.ID.String(), Path: path, Size: att.Size})
				} else if path != "-" {
					a.printf("%s\n", path)
				}
				return nil
			})
		}
	},
}

// writeNew downloads att into a new file at path, which must not exist.
func (a *app) writeNew(ctx context.Context, c *client.Client, att *client.Attachment, path string) error {
	tmp, err := os.OpenFile(partialName(filepath.Dir(path), att), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := c.Download(ctx, att, tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// fileDescription is the human text of an attachment: [file NAME, SIZE,
// TYPE] and its caption.
func fileDescription(att *client.Attachment) string {
	name := att.FileName
	if name == "" {
		name = "(no name)"
	}
	s := fmt.Sprintf("[file %s, %s", escapeText([]byte(name), false), humanSize(att.Size))
	if att.ContentType != "" {
		s += ", " + escapeText([]byte(att.ContentType), false)
	}
	s += "]"
	if att.Caption != "" {
		s += " " + escapeText([]byte(att.Caption), true)
	}
	return s
}

// humanSize is n bytes in B, KiB, MiB or GiB.
func humanSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

type jsonPending struct {
	ID         string `json:"id"`
	To         string `json:"to,omitempty"`
	Group      string `json:"group,omitempty"`
	Name       string `json:"file_name"`
	Size       int64  `json:"size"`
	Uploaded   int64  `json:"uploaded"`
	CipherSize int64  `json:"cipher_size"`
	Created    string `json:"created"`
}

var uploadsCommand = &command{
	name:    "uploads",
	usage:   "uploads [--resume]",
	summary: "list files not sent yet, or finish sending them",
	help: `
Lists the files 'sealpost send --file' recorded that are not sent yet (an
upload interrupted by a lost connection, a stopped server or the end of the
process): message id, recipient, name, and how much of the upload the blob
service holds. Every command that connects goes on with them in the
background; --resume finishes them now, with a progress bar, and exits
with status 0 once all are sent.
`,
	setup: func(fs *flag.FlagSet) runner {
		resume := fs.Bool("resume", false, "finish sending them now")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, ""); err != nil {
				return err
			}
			// Listing reads the store only: it works with the servers down.
			a.offline = !*resume
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				if *resume {
					var p *progress
					var cur client.MessageID
					err := c.ResumeFiles(ctx, func(id client.MessageID, done, total int64) {
						if p == nil || id != cur {
							if p != nil {
								p.finish()
							}
							cur, p = id, newProgress(a.stderr, a.stderrTTY && !a.json, "uploading "+shortID(id))
						}
						p.update(done, total)
					})
					if p != nil {
						p.finish()
					}
					if err != nil {
						return err
					}
				}
				pending, err := c.PendingFiles(ctx)
				if err != nil {
					return err
				}
				for _, f := range pending {
					j := jsonPending{ID: f.ID.String(), To: f.To, Name: f.Name, Size: f.Size, Uploaded: f.Uploaded, CipherSize: f.CipherSize, Created: fmtJSONTime(f.Created)}
					if f.To == "" {
						j.Group = f.Group.String()
					}
					if a.json {
						a.emit(j)
						continue
					}
					to := escapeText([]byte(f.To), false)
					if f.To == "" {
						to = "group " + f.Group.String()[:8]
					}
					a.printf("%s  %s  %s  %s, %d%% uploaded\n", shortID(f.ID), to, escapeText([]byte(f.Name), false), humanSize(f.Size), f.Uploaded*100/max(f.CipherSize, 1))
				}
				if *resume && len(pending) > 0 {
					return fmt.Errorf("%d file(s) not sent yet", len(pending))
				}
				return nil
			})
		}
	},
}
