package parser

import "testing"

// The broadcast hot path: one Encode per broadcast, shared by all recipients.
func BenchmarkEncodeEvent(b *testing.B) {
	p := &Packet{Type: Event, Namespace: "/", Data: []any{"room-message", map[string]any{"text": "hello", "n": 1}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEncodeEvent(b *testing.B) {
	p := &Packet{Type: Event, Namespace: "/", Data: []any{"room-message", map[string]any{"text": "hello", "n": 1}}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = AppendEncode(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBinaryEvent(b *testing.B) {
	blob := make([]byte, 1024)
	p := &Packet{Type: Event, Namespace: "/admin", Data: []any{"upload", map[string]any{"name": "a.bin", "file": blob}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTextEvent(b *testing.B) {
	text := []byte(`2["room-message",{"text":"hello","n":1}]`)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := d.DecodeText(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinaryEvent(b *testing.B) {
	text := []byte(`51-/admin,["upload",{"file":{"_placeholder":true,"num":0},"name":"a.bin"}]`)
	blob := make([]byte, 1024)
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeText(text); err != nil {
			b.Fatal(err)
		}
		if p, err := d.DecodeBinary(blob); err != nil || p == nil {
			b.Fatal(p, err)
		}
	}
}

func BenchmarkEncodeMsgpackEvent(b *testing.B) {
	p := &Packet{Type: Event, Namespace: "/", Data: []any{"room-message", map[string]any{"text": "hello", "n": 1}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMsgpack(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTextEventLazy is BenchmarkDecodeTextEvent with Lazy set:
// the arguments are checked and kept as text.
func BenchmarkDecodeTextEventLazy(b *testing.B) {
	text := []byte(`2["room-message",{"text":"hello","n":1}]`)
	d := Decoder{Lazy: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := d.DecodeText(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMsgpackBinaryEvent(b *testing.B) {
	blob := make([]byte, 1024)
	p := &Packet{Type: Event, Namespace: "/admin", Data: []any{"upload", map[string]any{"name": "a.bin", "file": blob}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMsgpack(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMsgpackEvent(b *testing.B) {
	msg, err := EncodeMsgpack(&Packet{Type: Event, Namespace: "/", Data: []any{"room-message", map[string]any{"text": "hello", "n": 1}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := DecodeMsgpack(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMsgpackBinaryEvent(b *testing.B) {
	msg, err := EncodeMsgpack(&Packet{Type: Event, Namespace: "/admin", Data: []any{"upload", map[string]any{"name": "a.bin", "file": make([]byte, 1024)}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMsgpack(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEncodeRawEvent writes an event from its arguments' text
// (a relay), to compare with BenchmarkAppendEncodeEvent.
func BenchmarkAppendEncodeRawEvent(b *testing.B) {
	p := &Packet{Type: Event, Namespace: "/", Event: "room-message", RawArgs: []byte(`[{"text":"hello","n":1}]`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = AppendEncode(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}
