package sqlexec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// MaxParams is the most parameters one query may have (the protocol's limit).
const MaxParams = 65535

// param is one bound value in text format. A JSON array is kept as JSON
// until the server tells which type the parameter has (see bindArrays).
type param struct {
	text  []byte // nil means NULL
	array []byte // a JSON array, when the value is one
}

// DecodeJSONParams parses a JSON array of parameter values, as the HTTP
// API receives them. It is what Query.Params gets for JSON input; exported
// for the fuzz test and for callers that hold raw JSON.
func DecodeJSONParams(data []byte) ([]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errs.New(errs.Invalid, "invalid_params", "params must be a JSON array of values")
	}
	out := make([]any, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out, nil
}

// encodeParams turns Go or JSON values into text-format parameters.
//
// JSON values (json.RawMessage): null → NULL; a string → its text; a number
// → its literal digits, exactly as sent; true/false → "true"/"false"; an
// object → its JSON text; an array → see bindArrays.
// Go values: nil, string, []byte (bytea), bool, integers, floats (NaN and
// ±Inf as PostgreSQL spells them), time.Time (RFC 3339), fmt.Stringer (uuid);
// anything else is marshalled to JSON and treated as a JSON value.
func encodeParams(vals []any) ([]param, bool, error) {
	if len(vals) > MaxParams {
		return nil, false, errs.New(errs.Invalid, "too_many_params", "a query takes at most %d params, not %d", MaxParams, len(vals))
	}
	ps := make([]param, len(vals))
	hasArray := false
	for i, v := range vals {
		p, err := encodeParam(v)
		if err != nil {
			return nil, false, errs.New(errs.Invalid, "invalid_params", "param $%d: %s", i+1, err)
		}
		if p.array != nil {
			hasArray = true
		}
		ps[i] = p
	}
	return ps, hasArray, nil
}

func encodeParam(v any) (param, error) {
	switch v := v.(type) {
	case nil:
		return param{}, nil
	case json.RawMessage:
		return jsonParam(v)
	case string:
		return param{text: []byte(v)}, nil
	case []byte:
		if v == nil {
			return param{}, nil
		}
		b := make([]byte, 2+hex.EncodedLen(len(v)))
		b[0], b[1] = '\\', 'x'
		hex.Encode(b[2:], v)
		return param{text: b}, nil
	case bool:
		return param{text: []byte(strconv.FormatBool(v))}, nil
	case int:
		return param{text: strconv.AppendInt(nil, int64(v), 10)}, nil
	case int8:
		return param{text: strconv.AppendInt(nil, int64(v), 10)}, nil
	case int16:
		return param{text: strconv.AppendInt(nil, int64(v), 10)}, nil
	case int32:
		return param{text: strconv.AppendInt(nil, int64(v), 10)}, nil
	case int64:
		return param{text: strconv.AppendInt(nil, v, 10)}, nil
	case uint:
		return param{text: strconv.AppendUint(nil, uint64(v), 10)}, nil
	case uint8:
		return param{text: strconv.AppendUint(nil, uint64(v), 10)}, nil
	case uint16:
		return param{text: strconv.AppendUint(nil, uint64(v), 10)}, nil
	case uint32:
		return param{text: strconv.AppendUint(nil, uint64(v), 10)}, nil
	case uint64:
		return param{text: strconv.AppendUint(nil, v, 10)}, nil
	case float32:
		return param{text: formatFloat(float64(v), 32)}, nil
	case float64:
		return param{text: formatFloat(v, 64)}, nil
	case time.Time:
		return param{text: v.AppendFormat(nil, time.RFC3339Nano)}, nil
	case fmt.Stringer:
		return param{text: []byte(v.String())}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return param{}, fmt.Errorf("cannot encode a %T", v)
	}
	return jsonParam(b)
}

func formatFloat(f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return []byte("NaN")
	case math.IsInf(f, 1):
		return []byte("Infinity")
	case math.IsInf(f, -1):
		return []byte("-Infinity")
	}
	return strconv.AppendFloat(nil, f, 'g', -1, bits)
}

func jsonParam(raw []byte) (param, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return param{}, fmt.Errorf("empty value")
	}
	switch raw[0] {
	case 'n':
		if string(raw) == "null" {
			return param{}, nil
		}
	case 't', 'f':
		if string(raw) == "true" || string(raw) == "false" {
			return param{text: raw}, nil
		}
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return param{}, fmt.Errorf("invalid JSON string")
		}
		return param{text: []byte(s)}, nil
	case '{':
		if json.Valid(raw) {
			return param{text: raw}, nil
		}
	case '[':
		if json.Valid(raw) {
			return param{array: raw}, nil
		}
	default:
		if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
			var n json.Number
			if json.Unmarshal(raw, &n) == nil {
				return param{text: raw}, nil
			}
		}
	}
	return param{}, fmt.Errorf("invalid JSON value")
}

// arrayLiteral writes a JSON array as a PostgreSQL array literal:
// [1,"a b",null,[2,3],{"k":1}] → {1,"a b",NULL,{2,3},"{\"k\":1}"}.
// Strings and objects are quoted; numbers and booleans are bare.
func arrayLiteral(raw []byte, delim byte) ([]byte, error) {
	var vals []json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, err
	}
	b := []byte{'{'}
	for i, v := range vals {
		if i > 0 {
			b = append(b, delim)
		}
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0:
			return nil, fmt.Errorf("empty element")
		case v[0] == '[':
			inner, err := arrayLiteral(v, delim)
			if err != nil {
				return nil, err
			}
			b = append(b, inner...)
		case string(v) == "null":
			b = append(b, "NULL"...)
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			b = appendQuotedElem(b, []byte(s))
		case v[0] == '{':
			b = appendQuotedElem(b, v)
		default: // number, true, false
			b = append(b, v...)
		}
	}
	return append(b, '}'), nil
}

func appendQuotedElem(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}
