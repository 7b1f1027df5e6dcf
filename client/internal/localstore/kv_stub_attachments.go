package localstore

import "time"

// TODO(kv): replaced by kv_attachments.go.

func (tx *kvTx) PutAttachUpload(u AttachUpload) error {
	panic("localstore: kv: PutAttachUpload not implemented")
}

func (tx *kvTx) SetAttachUploadProgress(id, uploadID []byte, uploaded int64) error {
	panic("localstore: kv: SetAttachUploadProgress not implemented")
}

func (tx *kvTx) FailAttachUpload(id []byte, reason string) error {
	panic("localstore: kv: FailAttachUpload not implemented")
}

func (tx *kvTx) DeleteAttachUpload(id []byte) error {
	panic("localstore: kv: DeleteAttachUpload not implemented")
}

func (tx *kvTx) AttachUploadRow(id []byte) (AttachUpload, error) {
	panic("localstore: kv: AttachUploadRow not implemented")
}

func (tx *kvTx) AttachUploads() ([]AttachUpload, error) {
	panic("localstore: kv: AttachUploads not implemented")
}

func (tx *kvTx) PutAttachDownload(d AttachDownload) (AttachDownload, error) {
	panic("localstore: kv: PutAttachDownload not implemented")
}

func (tx *kvTx) DeleteAttachDownload(blobID []byte) error {
	panic("localstore: kv: DeleteAttachDownload not implemented")
}

func (tx *kvTx) AttachDownloadsBefore(t time.Time) ([]AttachDownload, error) {
	panic("localstore: kv: AttachDownloadsBefore not implemented")
}

func (tx *kvTx) SpoolFiles() (map[string]bool, error) {
	panic("localstore: kv: SpoolFiles not implemented")
}
