package keyserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/sealpost/sealpost/keyserver/api"
)

// DecodeRequest decodes a request body into v, a pointer to one of the
// request types (ChallengeRequest, RegisterRequest, AddDeviceRequest,
// RevokeDeviceRequest, TokenRequest, PrekeyUpload), strictly
// (spec/keyserver.md §2.1): exactly one JSON object whose members are
// fields of v named exactly (case and all), each at most once; binary
// fields canonical unpadded base64url; nothing after the object but white
// space. On error v is unchanged and ErrorCode(err) is malformed_json,
// unknown_field or bad_base64.
func DecodeRequest(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return errors.New("keyserver: DecodeRequest needs a pointer to a request struct")
	}
	if err := checkMembers(data, fieldNames(rv.Elem().Type())); err != nil {
		return err
	}
	fresh := reflect.New(rv.Elem().Type())
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(fresh.Interface()); err != nil {
		return classifyJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(api.CodeMalformedJSON, "data after the JSON object")
	}
	rv.Elem().Set(fresh.Elem())
	return nil
}

// fieldNames returns the JSON member names of struct type t.
func fieldNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// checkMembers checks that data is one JSON object whose member names are
// all in names, each once and spelled exactly: encoding/json alone would
// match names case-insensitively and let a repeated member override.
func checkMembers(data []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return classifyJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest(api.CodeMalformedJSON, "request body is not a JSON object")
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return classifyJSON(err)
		}
		name, ok := tok.(string)
		if !ok {
			return badRequest(api.CodeMalformedJSON, "malformed JSON object")
		}
		if !names[name] {
			return badRequest(api.CodeUnknownField, "unknown field %q", truncate(name))
		}
		if seen[name] {
			return badRequest(api.CodeMalformedJSON, "field %q repeated", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return classifyJSON(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return classifyJSON(err)
	}
	return nil
}

// truncate shortens a client-supplied string for an error message.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// classifyJSON maps an encoding/json error to its spec/keyserver.md §3
// code.
func classifyJSON(err error) *apiError {
	var b64e = api.ErrBase64
	if errors.Is(err, b64e) {
		return badRequest(api.CodeBadBase64, "a binary field is not unpadded base64url")
	}
	if strings.Contains(err.Error(), "unknown field") {
		return badRequest(api.CodeUnknownField, "unknown field")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			return badRequest(api.CodeMalformedJSON, "field %q has the wrong type", typeErr.Field)
		}
		return badRequest(api.CodeMalformedJSON, "a field has the wrong type")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest(api.CodeMalformedJSON, "truncated JSON")
	}
	return badRequest(api.CodeMalformedJSON, "malformed JSON")
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newError(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "request body larger than %d bytes", limit)
		}
		return nil, badRequest(api.CodeMalformedJSON, "could not read the request body")
	}
	return data, nil
}

// decodeBody reads and decodes the request body into v.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	data, e := readBody(w, r, s.limits.MaxBodyBytes)
	if e != nil {
		return e
	}
	if err := DecodeRequest(data, v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return internal("decode", err)
	}
	return nil
}
