// Package syncpb holds the Go types generated from spec/sync.proto: the
// snapshot a device gives a new device of its account when it links it
// (spec/client.md §17.1). client parses and checks it; nothing here does.
//
// sync.pb.go is generated and committed, so building needs no protoc.
// After changing spec/sync.proto, regenerate it with protoc 3.21 or later
// and protoc-gen-go v1.36.12 (the version of google.golang.org/protobuf in
// go.mod) on PATH:
//
//	GOBIN=/tmp/protoc-gen-go go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	PATH=/tmp/protoc-gen-go:$PATH go generate ./client/syncpb
//
// then update spec/client.md §17, client/snapshot.go's checks, and the
// tests.
package syncpb

//go:generate protoc --proto_path=../../spec --go_out=. --go_opt=paths=source_relative sync.proto
