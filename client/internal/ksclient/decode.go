package ksclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/sealpost/sealpost/keyserver/api"
)

// decodeStrict decodes one JSON object into out as strictly as the key
// server decodes requests (spec/keyserver.md §2.1, keyserver.DecodeRequest):
// member names matched exactly, at every depth; no unknown member; no
// member twice; binary fields canonical base64url (api.Bytes);
// nothing after the object but white space. On error out is unchanged.
func decodeStrict(data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("ksclient: decodeStrict needs a pointer")
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("the answer is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkValue(dec, rv.Elem().Type()); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	fresh := reflect.New(rv.Elem().Type())
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(fresh.Interface()); err != nil {
		return err
	}
	rv.Elem().Set(fresh.Elem())
	return nil
}

var bytesType = reflect.TypeFor[api.Bytes]()

// checkValue reads the next JSON value from dec and checks the member
// names of every object in it against type t: encoding/json alone would
// match names case-insensitively and let a repeated member win.
func checkValue(dec *json.Decoder, t reflect.Type) error {
	switch {
	case t.Kind() == reflect.Struct:
		return checkObject(dec, t)
	case t.Kind() == reflect.Slice && t != bytesType:
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("want an array for %s", t)
		}
		for dec.More() {
			if err := checkValue(dec, t.Elem()); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	default:
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
}

func checkObject(dec *json.Decoder, t reflect.Type) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want an object for %s", t)
	}
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" && f.IsExported() {
			fields[name] = f.Type
		}
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		ft, ok := fields[name]
		if !ok {
			return fmt.Errorf("unknown member %q", printable(name))
		}
		if seen[name] {
			return fmt.Errorf("member %q repeated", name)
		}
		seen[name] = true
		if err := checkValue(dec, ft); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
}
