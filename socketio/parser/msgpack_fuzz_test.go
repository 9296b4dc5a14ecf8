package parser

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeMsgpack feeds arbitrary binary messages to the msgpack decoder:
// it must not panic, every error must match ErrInvalidPacket, and a packet
// it accepts must encode again and decode to the same packet.
func FuzzDecodeMsgpack(f *testing.F) {
	for _, tc := range msgpackDecodeCases {
		f.Add(unhex(f, tc.hex))
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa4, 'd', 'a', 't', 'a', 0x91, 0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0xa3, 'n', 's', 'p', 0xa1, '/'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeMsgpack(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not match ErrInvalidPacket", err)
			}
			return
		}
		enc, err := EncodeMsgpack(p)
		if err != nil {
			t.Fatalf("decoded packet %+v does not encode: %v", p, err)
		}
		q, err := DecodeMsgpack(enc)
		if err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the packet:\n%#v\n%#v", p, q)
		}
		// The default parser must be able to carry what a msgpack client
		// sent, for mixed rooms.
		if _, _, err := Encode(p); err != nil {
			t.Fatalf("decoded packet does not encode for the default parser: %v", err)
		}
	})
}
