package content

// contentpb/content.pb.go is generated from spec/content.proto and
// committed, so building needs no protoc. After changing spec/content.proto,
// regenerate it with protoc 3.21 or later and protoc-gen-go v1.36.12 (the
// version of google.golang.org/protobuf in go.mod) on PATH:
//
//	GOBIN=/tmp/protoc-gen-go go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	PATH=/tmp/protoc-gen-go:$PATH go generate ./client/content
//
// then update spec/content.md, validate.go's field rules, and the tests.

//go:generate protoc --proto_path=../../spec --go_out=contentpb --go_opt=paths=source_relative content.proto
