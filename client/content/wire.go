package content

import (
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// field is one field of an encoded message: its number and its complete
// encoding, tag included.
type field struct {
	num protowire.Number
	typ protowire.Type
	val []byte // the value: for bytes, without its length
	enc []byte // tag and value
}

// fields splits an encoded message into its fields. Field numbers outside
// 1 to 2^29-1 and groups (wire types 3 and 4) are refused: spec/content.md
// §3.2.
func fields(b []byte) ([]field, error) {
	var fs []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, malformed("bad tag")
		}
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			return nil, malformed("group in field %d", num)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, malformed("bad value of field %d", num)
		}
		f := field{num: num, typ: typ, val: b[n : n+m], enc: b[:n+m]}
		if typ == protowire.BytesType {
			f.val, _ = protowire.ConsumeBytes(f.val)
		}
		fs = append(fs, f)
		b = b[n+m:]
	}
	return fs, nil
}

// wireType is the wire type of a known field (spec/content.md §3.2).
func wireType(fd protoreflect.FieldDescriptor) protowire.Type {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return protowire.VarintType // bool, enum, uint32, uint64: all this file uses
}

// scan checks the encoding rules of spec/content.md §3.2 that the protobuf
// runtime does not: in every message this version defines, a known field
// has its wire type, a value in its type's range, appears once unless it is
// repeated, at most one case of a oneof is set, and strings are UTF-8.
// Unknown fields are only checked to be well formed.
func scan(b []byte, md protoreflect.MessageDescriptor) error {
	fs, err := fields(b)
	if err != nil {
		return err
	}
	seen := map[protowire.Number]bool{}
	var oneof protowire.Number
	for _, f := range fs {
		fd := md.Fields().ByNumber(f.num)
		if fd == nil {
			continue // unknown: kept (§5)
		}
		if f.typ != wireType(fd) {
			return malformed("field %s has wire type %d", fd.Name(), f.typ)
		}
		if fd.Cardinality() != protoreflect.Repeated {
			if seen[f.num] {
				return malformed("field %s repeated", fd.Name())
			}
			seen[f.num] = true
		}
		if fd.ContainingOneof() != nil {
			if oneof != 0 && oneof != f.num {
				return malformed("two kinds: %d and %d", oneof, f.num)
			}
			oneof = f.num
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(f.val) {
				return invalidUTF8(fd)
			}
		case protoreflect.MessageKind:
			if err := scan(f.val, fd.Message()); err != nil {
				return err
			}
		case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Uint32Kind:
			v, _ := protowire.ConsumeVarint(f.val)
			max := uint64(math.MaxUint32)
			switch fd.Kind() {
			case protoreflect.BoolKind:
				max = 1
			case protoreflect.EnumKind:
				max = math.MaxInt32
			}
			if v > max {
				return malformed("field %s is %d", fd.Name(), v)
			}
		}
	}
	return nil
}

// canonical reorders an encoded message into the canonical order of
// spec/content.md §3.1: at every level of the messages this version
// defines, fields in increasing field number, the values of one repeated
// field (and of one unknown field number) in their order. The protobuf
// runtime writes known fields in that order but unknown fields last.
func canonical(b []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b))
	slices.SortStableFunc(fs, func(x, y field) int { return int(x.num) - int(y.num) })
	for _, f := range fs {
		fd := md.Fields().ByNumber(f.num)
		if fd == nil || fd.Kind() != protoreflect.MessageKind || f.typ != protowire.BytesType {
			out = append(out, f.enc...)
			continue
		}
		v, err := canonical(f.val, fd.Message())
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, f.num, f.typ)
		out = protowire.AppendBytes(out, v)
	}
	return out, nil
}
