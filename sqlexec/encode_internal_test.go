package sqlexec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestEncodeUnits(t *testing.T) {
	vec := func(oid uint32) bool { return oid == 90001 }
	cols, names := planColumns([]pgconn.FieldDescription{
		{Name: "v", DataTypeOID: 90001}, {Name: "v", DataTypeOID: 90001}, {Name: "v_2", DataTypeOID: oidInt8}, {Name: "u", DataTypeOID: 90002},
	}, vec)
	if want := []string{"v", "v_3", "v_2", "u"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	got := appendRow(nil, cols, [][]byte{[]byte("[1,2.5,-3e-05]"), []byte("[1,x]"), []byte("-9007199254740993"), []byte("[1.5,2.5]")})
	want := `{"v":[1,2.5,-3e-05],"v_3":"[1,x]","v_2":"-9007199254740993","u":"[1.5,2.5]"}`
	if string(got) != want {
		t.Errorf("row = %s, want %s", got, want)
	}
	if !json.Valid(got) {
		t.Error("invalid JSON")
	}
	for tag, want := range map[string]string{"INSERT 0 1": "INSERT", "SELECT 5": "SELECT", "CREATE TABLE": "CREATE TABLE", "": "", "COPY 3": "COPY"} {
		if g := commandName(tag); g != want {
			t.Errorf("commandName(%q) = %q, want %q", tag, g, want)
		}
	}
	if s := string(appendString(nil, "a\x00\"\\\xff✓\u2028")); s != `"a\u0000\"\\\ufffd✓`+"\u2028"+`"` || !json.Valid([]byte(s)) {
		t.Errorf("appendString = %s", s)
	}
}

// FuzzParams: the params decoder never panics, and an array param written as
// a PostgreSQL array literal parses back (with this package's array reader)
// to the same elements.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		`[]`, `null`, `[1, "a", null, true, {"k": [1]}]`, `[[1,2],[3,4]]`, `[["a b", "c\"d\\e", null, "NULL", ""]]`,
		`[[{"a":1}, [], [[]]]]`, `[12345678901234567890.5e-3, -0]`, `["\u0000"]`, `[[" x ", "{", "}", ","]]`, `[1,]`, `{"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := DecodeJSONParams(data)
		if err != nil {
			return
		}
		ps, _, err := encodeParams(vals)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.array == nil {
				continue
			}
			lit, err := arrayLiteral(p.array, ',')
			if err != nil {
				t.Fatalf("arrayLiteral(%s): %v", p.array, err)
			}
			if !hasEmptyInner(p.array) && !bytes.ContainsRune(p.array, 0) {
				back, ok := appendArray(nil, lit, kString, ',')
				if !ok {
					t.Fatalf("literal %s of %s does not parse back", lit, p.array)
				}
				if w := stringify(t, p.array); string(back) != w {
					t.Fatalf("round trip of %s via %s = %s, want %s", p.array, lit, back, w)
				}
			}
		}
	})
}

// hasEmptyInner: PostgreSQL has no empty sub-arrays ({{}} is not a value), skip those.
func hasEmptyInner(raw []byte) bool {
	var v any
	json.Unmarshal(raw, &v)
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		a, ok := v.([]any)
		if !ok {
			return false
		}
		if len(a) == 0 && depth > 0 {
			return true
		}
		for _, e := range a {
			if walk(e, depth+1) {
				return true
			}
		}
		return false
	}
	return walk(v, 0)
}

// stringify writes a JSON array with every scalar as the string PostgreSQL receives.
func stringify(t *testing.T, raw []byte) string {
	var vals []json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		t.Fatal(err)
	}
	b := []byte{'['}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		v = bytes.TrimSpace(v)
		switch {
		case v[0] == '[':
			b = append(b, stringify(t, v)...)
		case string(v) == "null":
			b = append(b, "null"...)
		case v[0] == '"':
			var s string
			json.Unmarshal(v, &s)
			b = appendString(b, s)
		default:
			b = appendStringBytes(b, v)
		}
	}
	return string(append(b, ']'))
}
