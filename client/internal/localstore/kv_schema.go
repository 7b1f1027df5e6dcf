package localstore

import (
	"fmt"
	"strings"
)

// kvSeqTable is the hidden table of autoincrement high-water marks (the kv
// engine's sqlite_sequence): one row per table, name || seq.
const kvSeqTable = "kv_sequence"

// kvSchema is the kv engine's tables: the SQLite engine's schema after
// every migration (migrations/*.sql), column for column, with the same
// primary keys, unique constraints and indexes (history_conv is the kv
// engine's own: SQLite answers those queries from the unique index and
// the row id). spec/client-store.md §8.1.
var kvSchema = []*kvTableDef{
	kvDef("meta", "name:text value:blob", "name"),
	kvDef("identity", "id:int handle:text device_id:int account_seed:blob signing_seed:blob dh_private:blob certificate:blob", "id"),
	kvDef("prekeys", "kind:int id:int secret:blob created:int used:int pending:blob", "kind id"),
	kvDef("sessions", "peer_handle:text peer_device:int state:blob updated:int ephemeral_run:int", "peer_handle peer_device"),
	kvDef("contacts", "handle:text record:blob", "handle"),
	kvDef("checkpoint", "id:int text:blob updated:int", "id"),
	kvDef("processed", "id:blob processed:int", "id",
		kvIndex("processed_time", "processed")),
	kvDef("outgoing", "seq:int message_id:blob recipient:text device:int envelope:blob attempts:int created:int send_token:blob token_epoch:int", "seq+",
		kvUnique("message_id recipient device"),
		kvIndex("outgoing_message", "message_id seq"), // kv only: SQLite uses the unique index's prefix
		kvIndex("outgoing_device", "recipient device seq")),
	kvDef("inbox", "seq:int id:blob sender:text sender_device:int time:int plaintext:blob delivered:int flags:int", "seq+",
		kvUnique("id"),
		kvIndex("inbox_undelivered", "delivered seq")),
	kvDef("keysets", "handle:text entry:blob", "handle"),
	kvDef("initial_messages", "hash:blob signed_prekey:int created:int", "hash",
		kvIndex("initial_messages_prekey", "signed_prekey")),
	kvDef("own_devices", "device:int record:blob", "device"),
	kvDef("sent", "message_id:blob digest:blob created:int", "message_id",
		kvIndex("sent_created", "created")),
	kvDef("sent_refused", "message_id:blob recipient:text device:int status:int", "message_id recipient device"),
	kvDef("history", "seq:int conversation:text id:blob sender:text sender_device:int outgoing:int sent:int received:int body:blob reactions:blob edited:int deleted:int timer:int read:int expires:int", "seq+",
		kvUnique("conversation id"),
		kvIndex("history_expires", "expires"),
		kvIndex("history_conv", "conversation seq")),
	kvDef("held_content", "seq:int conversation:text target:blob sender:text sender_device:int received:int payload:blob", "seq+",
		kvIndex("held_content_target", "conversation target")),
	kvDef("conversations", "peer:text timer:int changed:int", "peer"),
	kvDef("message_devices", "message_id:blob recipient:text device:int delivered:int read:int", "message_id recipient device"),
	kvDef("receipts_out", "peer:text type:int message_id:blob created:int", "peer type message_id"),
	kvDef("send_tokens", "id:int epoch:int token:blob", "id+",
		kvIndex("send_tokens_epoch", "epoch id")),
	kvDef("peer_access_keys", "handle:text device:int key:blob received:int", "handle device"),
	kvDef("access_given", "handle:text given:int", "handle"),
	kvDef("blocked", "handle:text blocked:int", "handle"),
	kvDef("seal_keys", "handle:text device:int prekey:blob fetched:int", "handle device"),
	kvDef("groups", "id:blob tracker:blob updated:int", "id"),
	kvDef("group_send", "id:blob chain:blob rotate:int sent_to:blob started:int", "id"),
	kvDef("group_recv", "id:blob chain_id:blob handle:text device:int chain:blob", "id chain_id"),
	kvDef("group_outgoing", "seq:int message_id:blob body:blob recipients:blob created:int", "seq+",
		kvUnique("message_id")),
	kvDef("group_held_keys", "id:blob handle:text device:int dist:blob received:int", "id handle device"),
	kvDef("group_lost", "id:blob change_id:blob change:blob", "id change_id"),
	kvDef("group_held_msgs", "env_id:blob id:blob chain_id:blob body:blob received:int", "env_id",
		kvIndex("group_held_msgs_chain", "id chain_id")),
	kvDef("attach_uploads", "id:blob conversation:text group_id:blob spool:text pointer:blob cipher_size:int upload_id:blob uploaded:int created:int failed:text", "id"),
	kvDef("attach_downloads", "blob_id:blob spool:text created:int", "blob_id"),
	kvDef("device_info", "device:int name:blob name_changed:int last_seen:int", "device"),
	kvDef(kvSeqTable, "name:text seq:int", "name"),
}

type kvOpt func(*kvTableDef)

func kvUnique(cols string) kvOpt {
	return func(d *kvTableDef) { d.uniques = append(d.uniques, d.colList(cols)) }
}

func kvIndex(name, cols string) kvOpt {
	return func(d *kvTableDef) { d.indexes[name] = d.colList(cols) }
}

// kvDef builds a table definition: cols is "name:type ..." (int, text,
// blob), pk the primary key's columns; a single key column written "seq+"
// is AUTOINCREMENT.
func kvDef(name, cols, pk string, opts ...kvOpt) *kvTableDef {
	d := &kvTableDef{name: name, colIdx: map[string]int{}, indexes: map[string][]int{}}
	for _, c := range strings.Fields(cols) {
		n, typ, _ := strings.Cut(c, ":")
		d.colIdx[n] = len(d.cols)
		d.cols = append(d.cols, n)
		switch typ {
		case "int":
			d.types = append(d.types, kvInt)
		case "text":
			d.types = append(d.types, kvText)
		case "blob":
			d.types = append(d.types, kvBlob)
		default:
			panic(fmt.Sprintf("localstore: kv: %s.%s: type %q", name, n, typ))
		}
	}
	if strings.HasSuffix(pk, "+") {
		d.autoinc = true
		pk = strings.TrimSuffix(pk, "+")
	}
	d.pk = d.colList(pk)
	for _, o := range opts {
		o(d)
	}
	return d
}

func (d *kvTableDef) colList(cols string) []int {
	var out []int
	for _, c := range strings.Fields(cols) {
		i, ok := d.colIdx[c]
		if !ok {
			panic(fmt.Sprintf("localstore: kv: %s has no column %s", d.name, c))
		}
		out = append(out, i)
	}
	return out
}
