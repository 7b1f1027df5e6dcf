package wire

// relay.pb.go is generated from spec/relay.proto and committed, so building
// needs no protoc. After changing spec/relay.proto, regenerate it from this
// directory with protoc 3.21 or later and protoc-gen-go v1.36.12 (the
// version of google.golang.org/protobuf in go.mod) on PATH:
//
//	GOBIN=/tmp/protoc-gen-go go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	PATH=/tmp/protoc-gen-go:$PATH go generate ./relay/wire
//
// then update spec/relay.md, codec.go's field rules, and the tests.

//go:generate protoc --proto_path=../../spec --go_out=. --go_opt=paths=source_relative relay.proto
