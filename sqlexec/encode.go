package sqlexec

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// This file turns PostgreSQL's text-format values into JSON, per type OID,
// without a round trip through Go values. The rules are in the package doc
// (section "Results as JSON").

// kind is how one column (or array element) is written.
type kind uint8

const (
	kString      kind = iota // JSON string of the text form
	kNumber                  // the text is a JSON number already (int2, int4, oid)
	kInt8                    // number when |v| <= 2^53, else string
	kFloat                   // number, except NaN and ±Infinity, which are strings
	kBool                    // t/f → true/false
	kJSON                    // json, jsonb: embedded as is
	kTimestamp               // "2006-01-02 15:04:05" → "2006-01-02T15:04:05"
	kTimestamptz             // ... and the offset as ±hh:mm
	kTimetz                  // "15:04:05+02" → "15:04:05+02:00"
	kVector                  // pgvector vector/halfvec: "[1,2]" is a JSON array
	kArray                   // a PostgreSQL array; see column.elem
)

// column is the encoding plan of one result column.
type column struct {
	key   []byte // the quoted JSON key, with the colon: "name":
	kind  kind
	elem  kind // for kArray
	delim byte // for kArray
}

// PostgreSQL type OIDs this package treats specially (pg_type.h).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBox         = 603
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidTimetz      = 1266
	oidJSONB       = 3802
	oidNumeric     = 1700
)

// typeMap knows the built-in array types and their element types.
var typeMap = pgtype.NewMap()

func scalarKind(oid uint32, isVector func(uint32) bool) kind {
	switch oid {
	case oidInt2, oidInt4, oidOID:
		return kNumber
	case oidInt8:
		return kInt8
	case oidFloat4, oidFloat8:
		return kFloat
	case oidBool:
		return kBool
	case oidJSON, oidJSONB:
		return kJSON
	case oidTimestamp:
		return kTimestamp
	case oidTimestamptz:
		return kTimestamptz
	case oidTimetz:
		return kTimetz
	}
	if isVector != nil && isVector(oid) {
		return kVector
	}
	return kString
}

// arrayElem returns the element OID and delimiter of a built-in array type.
func arrayElem(oid uint32) (uint32, byte, bool) {
	t, ok := typeMap.TypeForOID(oid)
	if !ok {
		return 0, 0, false
	}
	ac, ok := t.Codec.(*pgtype.ArrayCodec)
	if !ok || ac.ElementType == nil {
		return 0, 0, false
	}
	d := byte(',')
	if ac.ElementType.OID == oidBox {
		d = ';'
	}
	return ac.ElementType.OID, d, true
}

// planColumns makes the encoding plan of a result. Keys are the column
// names; the second and later columns of a name get "_2", "_3", ... (the
// first such name no column has), so no value overwrites another and
// columns with unique names keep them.
func planColumns(fds []pgconn.FieldDescription, isVector func(uint32) bool) ([]column, []string) {
	cols := make([]column, len(fds))
	names := make([]string, len(fds))
	var taken, seen map[string]bool
	if len(fds) > 1 {
		taken = make(map[string]bool, len(fds))
		seen = make(map[string]bool, len(fds))
		for _, fd := range fds {
			taken[fd.Name] = true
		}
	}
	for i, fd := range fds {
		name := fd.Name
		if seen != nil {
			if seen[name] {
				for n := 2; ; n++ {
					cand := name + "_" + strconv.Itoa(n)
					if !taken[cand] {
						name = cand
						taken[cand] = true
						break
					}
				}
			}
			seen[name] = true
		}
		names[i] = name
		k := appendString(make([]byte, 0, len(name)+3), name)
		cols[i] = column{key: append(k, ':'), kind: scalarKind(fd.DataTypeOID, isVector)}
		if cols[i].kind == kString {
			if eo, d, ok := arrayElem(fd.DataTypeOID); ok {
				cols[i].kind, cols[i].elem, cols[i].delim = kArray, scalarKind(eo, isVector), d
			}
		}
	}
	return cols, names
}

// appendRow appends one row as a JSON object.
func appendRow(b []byte, cols []column, vals [][]byte) []byte {
	b = append(b, '{')
	for i := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, cols[i].key...)
		b = appendValue(b, &cols[i], vals[i])
	}
	return append(b, '}')
}

func appendValue(b []byte, c *column, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	if c.kind == kArray {
		out, ok := appendArray(b, v, c.elem, c.delim)
		if ok {
			return out
		}
		return appendStringBytes(b, v)
	}
	return appendScalar(b, c.kind, v)
}

func appendScalar(b []byte, k kind, v []byte) []byte {
	switch k {
	case kNumber:
		return append(b, v...)
	case kInt8:
		if safeInt(v) {
			return append(b, v...)
		}
	case kFloat:
		if len(v) > 0 && (v[0] >= '0' && v[0] <= '9' || v[0] == '-' && len(v) > 1 && v[1] >= '0' && v[1] <= '9') {
			return append(b, v...)
		}
	case kBool:
		if len(v) == 1 && v[0] == 't' {
			return append(b, "true"...)
		}
		if len(v) == 1 && v[0] == 'f' {
			return append(b, "false"...)
		}
	case kJSON:
		return append(b, v...)
	case kTimestamp, kTimestamptz:
		return appendTimestamp(b, v, k == kTimestamptz)
	case kTimetz:
		if i := bytes.LastIndexAny(v, "+-"); i > 0 {
			b = append(b, '"')
			b = append(b, v[:i]...)
			b = appendOffset(b, v[i:])
			return append(b, '"')
		}
	case kVector:
		if isNumberArray(v) {
			return append(b, v...)
		}
	}
	return appendStringBytes(b, v)
}

// safeInt reports whether the decimal integer v is within ±2^53, where
// every integer is exact in a float64 (and in JavaScript).
func safeInt(v []byte) bool {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) < 16 {
		return true
	}
	if len(d) > 16 {
		return false
	}
	return string(d) <= "9007199254740992"
}

// appendTimestamp turns "2024-01-02 03:04:05.123+05:30" into
// "2024-01-02T03:04:05.123+05:30" (and "+00" into "+00:00"). Anything else
// (infinity, BC dates, a DateStyle changed by the query) is kept as text.
func appendTimestamp(b, v []byte, tz bool) []byte {
	if len(v) < 19 || v[10] != ' ' || v[4] != '-' || bytes.HasSuffix(v, []byte(" BC")) {
		return appendStringBytes(b, v)
	}
	b = append(b, '"')
	b = append(b, v[:10]...)
	b = append(b, 'T')
	if !tz {
		b = append(b, v[11:]...)
		return append(b, '"')
	}
	rest := v[11:]
	i := bytes.LastIndexAny(rest, "+-")
	if i < 0 {
		b = append(b, rest...)
		return append(b, '"')
	}
	b = append(b, rest[:i]...)
	b = appendOffset(b, rest[i:])
	return append(b, '"')
}

// appendOffset writes a UTC offset "+05", "+05:30" or "+05:30:15" as
// "+05:00", "+05:30", "+05:30:15".
func appendOffset(b, off []byte) []byte {
	b = append(b, off...)
	if len(off) == 3 {
		b = append(b, ":00"...)
	}
	return b
}

// isNumberArray reports whether v looks like pgvector's "[1,2.5,-3e-05]".
func isNumberArray(v []byte) bool {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	prevSep := true
	for _, c := range v[1 : len(v)-1] {
		switch {
		case c == ',':
			if prevSep {
				return false
			}
			prevSep = true
		case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E':
			prevSep = false
		default:
			return false
		}
	}
	return !prevSep || len(v) == 2
}

// appendArray writes PostgreSQL's array text ("{1,NULL,{2,3}}",
// optionally prefixed by dimensions "[0:1]=") as a JSON array, each element
// written by its kind. It reports false on text it does not understand.
func appendArray(b, v []byte, elem kind, delim byte) ([]byte, bool) {
	if len(v) > 0 && v[0] == '[' {
		i := bytes.IndexByte(v, '=')
		if i < 0 {
			return b, false
		}
		v = v[i+1:]
	}
	start := len(b)
	p := arrayParser{s: v, elem: elem, delim: delim}
	b, ok := p.array(b)
	if !ok || p.i != len(p.s) {
		return b[:start], false
	}
	return b, true
}

type arrayParser struct {
	s     []byte
	i     int
	elem  kind
	delim byte
	tmp   []byte
}

func (p *arrayParser) array(b []byte) ([]byte, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return b, false
	}
	p.i++
	b = append(b, '[')
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return append(b, ']'), true
	}
	for n := 0; ; n++ {
		if n > 0 {
			b = append(b, ',')
		}
		if p.i >= len(p.s) {
			return b, false
		}
		var ok bool
		switch p.s[p.i] {
		case '{':
			b, ok = p.array(b)
		case '"':
			b, ok = p.quoted(b)
		default:
			b, ok = p.bare(b)
		}
		if !ok || p.i >= len(p.s) {
			return b, false
		}
		switch p.s[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return append(b, ']'), true
		default:
			return b, false
		}
	}
}

func (p *arrayParser) quoted(b []byte) ([]byte, bool) {
	p.i++
	p.tmp = p.tmp[:0]
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return b, false
			}
			p.tmp = append(p.tmp, p.s[p.i+1])
			p.i += 2
		case '"':
			p.i++
			return appendScalar(b, p.elem, p.tmp), true
		default:
			p.tmp = append(p.tmp, c)
			p.i++
		}
	}
	return b, false
}

func (p *arrayParser) bare(b []byte) ([]byte, bool) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
		if p.s[p.i] == '{' || p.s[p.i] == '"' {
			return b, false
		}
		p.i++
	}
	tok := p.s[start:p.i]
	if len(tok) == 0 {
		return b, false
	}
	if len(tok) == 4 && (tok[0]|0x20) == 'n' && (tok[1]|0x20) == 'u' && (tok[2]|0x20) == 'l' && (tok[3]|0x20) == 'l' {
		return append(b, "null"...), true
	}
	return appendScalar(b, p.elem, tok), true
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte { return appendStringBytes(b, []byte(s)) }

// appendStringBytes appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendStringBytes(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
