package parser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Decoder decodes the Socket.IO packets of one connection. Binary packets
// span several engine messages (the text, then one binary message per
// attachment), so the Decoder keeps the packet waiting for its attachments
// between calls. It is not safe for concurrent use; the engine delivers one
// session's messages in order from one goroutine.
//
// After any error the Decoder is back in its initial state: the half-received
// packet, if any, is dropped. A peer that sends an invalid packet is normally
// disconnected anyway (github.com/socketio/socket.io-protocol).
type Decoder struct {
	// MaxAttachments is the most attachments one packet may announce;
	// a larger count fails with ErrTooManyAttachments. Zero or negative
	// means the package default, MaxAttachments.
	MaxAttachments int

	// Lazy makes EVENT and ACK packets (and their binary forms) come back
	// with their arguments as JSON text in RawArgs, the event name in
	// Event, and attachments in Attachments, instead of decoded in Data.
	// The text is checked as for a decoded packet (valid JSON, the shape
	// the type requires, placeholders naming received attachments), so a
	// packet that would fail to decode fails here too; decoding it later
	// with [Packet.Args] cannot fail. Other packet types are decoded as
	// usual.
	Lazy bool

	pending     *Packet  // a BINARY_* packet waiting for attachments
	want        int      // attachments pending announced
	attachments [][]byte // attachments received so far for pending
}

// DecodeText decodes the payload of one Engine.IO text message (without the
// "4" message prefix). It returns (nil, nil) when the packet is a
// BINARY_EVENT or BINARY_ACK announcing attachments: the packet is returned
// by the DecodeBinary call that supplies the last one. A text message while
// attachments are pending fails with ErrUnexpectedText.
//
// The returned packet shares no memory with b.
func (d *Decoder) DecodeText(b []byte) (*Packet, error) {
	if d.pending != nil {
		d.Reset()
		return nil, fmt.Errorf("decoding packet: %w", ErrUnexpectedText)
	}
	limit := d.MaxAttachments
	if limit <= 0 {
		limit = MaxAttachments
	}
	p, n, err := decodeText(b, limit, d.Lazy)
	if err != nil {
		return nil, err
	}
	if p.Type != BinaryEvent && p.Type != BinaryAck {
		return p, nil
	}
	if n == 0 {
		// Complete already; placeholders would name missing attachments.
		if p.RawArgs != nil {
			return p, nil // checked by decodeText
		}
		if p.Data, err = substitute(p.Data, nil); err != nil {
			return nil, fmt.Errorf("decoding %v: %w", p.Type, err)
		}
		return p, nil
	}
	d.pending, d.want = p, n
	d.attachments = make([][]byte, 0, min(n, MaxAttachments)) // the limit may be set high
	return nil, nil
}

// DecodeBinary consumes the payload of one Engine.IO binary message as the
// next attachment of the pending packet. It returns the packet, with every
// placeholder replaced by its attachment, once the last attachment arrived,
// and (nil, nil) while more are expected. A binary message when no packet is
// pending fails with ErrUnexpectedBinary.
//
// The returned packet's Data holds b itself, not a copy: the caller must not
// modify b afterwards.
func (d *Decoder) DecodeBinary(b []byte) (*Packet, error) {
	if d.pending == nil {
		return nil, fmt.Errorf("decoding attachment: %w", ErrUnexpectedBinary)
	}
	d.attachments = append(d.attachments, b)
	if len(d.attachments) < d.want {
		return nil, nil
	}
	p, attachments := d.pending, d.attachments
	d.Reset()
	if p.RawArgs != nil {
		p.Attachments = attachments // the placeholders were checked against their count
		return p, nil
	}
	var err error
	if p.Data, err = substitute(p.Data, attachments); err != nil {
		return nil, fmt.Errorf("decoding %v: %w", p.Type, err)
	}
	return p, nil
}

// Reset drops the packet waiting for attachments, if any, for instance when
// the connection it belongs to is reused or restarted.
func (d *Decoder) Reset() {
	d.pending, d.want, d.attachments = nil, 0, nil
}

// decodeText parses one packet following the decoder algorithm of
// github.com/socketio/socket.io-protocol and validates its data. It returns the announced
// attachment count for binary types.
func decodeText(b []byte, maxAttachments int, lazy bool) (*Packet, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("decoding packet: empty message: %w", ErrUnknownType)
	}
	if b[0] < '0' || b[0] > '0'+byte(BinaryAck) {
		return nil, 0, fmt.Errorf("decoding packet: type %q: %w", b[0], ErrUnknownType)
	}
	p := &Packet{Type: Type(b[0] - '0'), Namespace: "/"}
	i := 1

	n := 0
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		start := i
		for ; i < len(b) && isDigit(b[i]); i++ {
			// The first test keeps n*10 from overflowing whatever
			// limit the caller configured.
			if n > (math.MaxInt-9)/10 {
				return nil, 0, fmt.Errorf("decoding %v: more than %d attachments: %w", p.Type, maxAttachments, ErrTooManyAttachments)
			}
			if n = n*10 + int(b[i]-'0'); n > maxAttachments {
				return nil, 0, fmt.Errorf("decoding %v: more than %d attachments: %w", p.Type, maxAttachments, ErrTooManyAttachments)
			}
		}
		if i == start || i == len(b) || b[i] != '-' {
			return nil, 0, fmt.Errorf("decoding %v: attachment count must be digits then '-': %w", p.Type, ErrInvalidAttachments)
		}
		i++
	}

	if i < len(b) && b[i] == '/' {
		// The namespace runs to the first comma or, without one, to the
		// end: "0/admin" is as valid as "0/admin,".
		end := len(b)
		if k := bytes.IndexByte(b[i:], ','); k >= 0 {
			end = i + k
		}
		nsp := b[i:end]
		if !validNamespace(string(nsp)) { // no allocation: the conversion is only compared
			return nil, 0, fmt.Errorf("decoding %v: namespace %q: %w", p.Type, nsp, ErrInvalidNamespace)
		}
		if len(nsp) > 1 {
			p.Namespace = string(nsp)
		}
		i = min(end+1, len(b))
	}

	if i < len(b) && isDigit(b[i]) {
		var id uint64
		for ; i < len(b) && isDigit(b[i]); i++ {
			// id stays at most MaxAckID (2^53-1), so id*10+9 cannot
			// overflow a uint64.
			if id = id*10 + uint64(b[i]-'0'); id > MaxAckID {
				return nil, 0, fmt.Errorf("decoding %v: ack id above %d: %w", p.Type, uint64(MaxAckID), ErrInvalidAckID)
			}
		}
		p.ID, p.HasID = id, true
	}

	present := i < len(b)
	if lazy && present && p.Type != Connect && p.Type != Disconnect && p.Type != ConnectError {
		if err := p.lazyData(b[i:], n); err != nil {
			return nil, 0, fmt.Errorf("decoding %v data: %w", p.Type, err)
		}
		return p, n, nil
	}
	if present {
		var err error
		if p.Data, err = decodeJSON(b[i:]); err != nil {
			return nil, 0, fmt.Errorf("decoding %v data: %w", p.Type, err)
		}
	}
	if err := validateData(p.Type, p.Data, present); err != nil {
		return nil, 0, fmt.Errorf("decoding %v data: %w", p.Type, err)
	}
	return p, n, nil
}

// lazyData checks data, the JSON text of an EVENT or ACK with n
// attachments, and keeps a copy of it in p.RawArgs (and p.Event).
func (p *Packet) lazyData(data []byte, n int) error {
	if !json.Valid(data) {
		// The decoder's error says what is wrong.
		_, err := decodeJSON(data)
		return err
	}
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		if err := checkPlaceholders(data, n); err != nil {
			return err
		}
	}
	if p.Type == Ack || p.Type == BinaryAck {
		if err := checkArray(data); err != nil {
			return err
		}
		p.RawArgs = bytes.Clone(data)
		return nil
	}
	name, sep, err := splitEvent(data)
	if err != nil {
		return err
	}
	// One copy, owned by the packet: the byte before the arguments
	// becomes the '[' of their own array ("[\"e\",1,2]" -> "[1,2]").
	raw := bytes.Clone(data[sep:])
	if raw[0] == ',' {
		raw[0] = '['
	} else {
		raw = []byte("[]")
	}
	p.Event, p.RawArgs = name, raw
	return nil
}

// decodeJSON parses b as one JSON value the way JSON.parse does: surrounding
// whitespace is fine, anything else after the value is an error. Numbers are
// kept as json.Number so ids and big integers survive exactly.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if rest := b[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: garbage after the JSON value", ErrInvalidPayload)
	}
	return v, nil
}

// validateData checks the shape each packet type requires
// (github.com/socketio/socket.io-protocol), before placeholders are
// replaced, as socket.io-parser does.
func validateData(t Type, data any, present bool) error {
	switch t {
	case Connect:
		if _, ok := data.(map[string]any); present && !ok {
			return fmt.Errorf("%w: CONNECT data must be an object", ErrInvalidPayload)
		}
	case Disconnect:
		if present {
			return fmt.Errorf("%w: DISCONNECT carries no data", ErrInvalidPayload)
		}
	case ConnectError:
		switch data.(type) {
		case string, map[string]any:
		default:
			if present {
				return fmt.Errorf("%w: CONNECT_ERROR data must be a string or an object", ErrInvalidPayload)
			}
		}
	case Event, BinaryEvent:
		args, ok := data.([]any)
		if !ok || len(args) == 0 {
			return fmt.Errorf("%w: event data must be a non-empty array", ErrInvalidPayload)
		}
		switch name := args[0].(type) {
		case json.Number:
		case string:
			if IsReservedEvent(name) {
				return fmt.Errorf("%w: reserved event name %q", ErrInvalidPayload, name)
			}
		default:
			return fmt.Errorf("%w: event name must be a string or a number", ErrInvalidPayload)
		}
	case Ack, BinaryAck:
		if _, ok := data.([]any); !ok {
			return fmt.Errorf("%w: ack data must be an array", ErrInvalidPayload)
		}
	}
	return nil
}

// substitute replaces, in place, every placeholder object inside v by the
// attachment it names. Like socket.io-parser, any object whose _placeholder
// is true counts, and its num must index a received attachment. v is a fresh
// tree from decodeJSON, so mutating it is safe.
func substitute(v any, attachments [][]byte) (any, error) {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			switch e.(type) {
			case []any, map[string]any:
				r, err := substitute(e, attachments)
				if err != nil {
					return nil, err
				}
				v[i] = r
			}
		}
	case map[string]any:
		if ph, _ := v["_placeholder"].(bool); ph {
			num, _ := v["num"].(json.Number)
			// JavaScript indexes with any number equal to an
			// integer, so 1.0 and 1e0 name attachment 1 too.
			f, err := strconv.ParseFloat(string(num), 64)
			if err != nil || f != math.Trunc(f) || f < 0 || f >= float64(len(attachments)) {
				return nil, fmt.Errorf("%w: placeholder num %q with %d attachments", ErrInvalidAttachments, string(num), len(attachments))
			}
			return attachments[int(f)], nil
		}
		for k, e := range v {
			switch e.(type) {
			case []any, map[string]any:
				r, err := substitute(e, attachments)
				if err != nil {
					return nil, err
				}
				v[k] = r
			}
		}
	}
	return v, nil
}
