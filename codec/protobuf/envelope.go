package protobuf

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
)

// Debezium change events in Protobuf (envelope: debezium): the message is
// the connector's Envelope as a Protobuf converter writes it — before and
// after (the row's message), source, op, ts_ms, transaction. The row is
// after, compiled onto the table like any message; op and the source's
// commit time and log position are captured for the metadata columns;
// everything else is read past. A message field given more than once is
// merged, as Protobuf says: after's occurrences are decoded as one.

// envelope is where the Envelope's fields are, by number.
type envelope struct {
	after, op, source protowire.Number
	src               map[protowire.Number]srcField
}

// srcField is a field of the source block floe reads.
type srcField uint8

const (
	srcTsMs srcField = iota + 1
	srcTsUs
	srcTsNs
	srcLSN
	srcPos
	srcChangeLSN
	srcSCN
	srcFile
)

var srcFields = map[protoreflect.Name]srcField{
	"ts_ms": srcTsMs, "ts_us": srcTsUs, "ts_ns": srcTsNs, "lsn": srcLSN, "pos": srcPos,
	"change_lsn": srcChangeLSN, "scn": srcSCN, "file": srcFile,
}

// afterMessage is the row message of an Envelope md, and the envelope's
// plan.
func afterMessage(md protoreflect.MessageDescriptor) (protoreflect.MessageDescriptor, *envelope, error) {
	fields := md.Fields()
	after, op := fields.ByName("after"), fields.ByName("op")
	if after == nil || after.Message() == nil || after.IsList() || after.IsMap() || op == nil || op.Kind() != protoreflect.StringKind {
		return nil, nil, fmt.Errorf("envelope debezium: message %s is not a Debezium Envelope (a message field after and a string op)", md.FullName())
	}
	env := &envelope{after: after.Number(), op: op.Number(), src: map[protowire.Number]srcField{}}
	if source := fields.ByName("source"); source != nil && source.Message() != nil && !source.IsList() && !source.IsMap() {
		env.source = source.Number()
		sf := source.Message().Fields()
		for i := range sf.Len() {
			if role, ok := srcFields[sf.Get(i).Name()]; ok {
				env.src[sf.Get(i).Number()] = role
			}
		}
	}
	return after.Message(), env, nil
}

// unwrap reads the Envelope value v: the after message's bytes (merged
// into buf when it occurs more than once; nil when it is absent) and ch.
func (e *envelope) unwrap(v []byte, buf *[]byte, ch *codec.Change) ([]byte, bool, *codec.FieldError) {
	var (
		after    []byte
		hasAfter bool
		merged   bool
	)
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return nil, false, malformedEnvelope(n)
		}
		v = v[n:]
		if (num == e.after || num == e.op || num == e.source) && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return nil, false, malformedEnvelope(n)
			}
			v = v[n:]
			switch num {
			case e.op:
				ch.Op = b
			case e.source:
				if err := e.readSource(b, ch); err != nil {
					return nil, false, err
				}
			case e.after:
				switch {
				case !hasAfter:
					after, hasAfter = b, true
				case !merged:
					*buf = append(append((*buf)[:0], after...), b...)
					merged = true
				default:
					*buf = append(*buf, b...)
				}
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, v)
		if n < 0 {
			return nil, false, malformedEnvelope(n)
		}
		v = v[n:]
	}
	if merged {
		after = *buf
	}
	return after, hasAfter, nil
}

// readSource captures the source block's times and position: integers as
// varints (or in a wrapper message, as nullable fields are written),
// strings as bytes; a field of another shape is read past.
func (e *envelope) readSource(v []byte, ch *codec.Change) *codec.FieldError {
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return malformedEnvelope(n)
		}
		v = v[n:]
		n = protowire.ConsumeFieldValue(num, typ, v)
		if n < 0 {
			return malformedEnvelope(n)
		}
		raw := v[:n]
		v = v[n:]
		role := e.src[num]
		if role == 0 {
			continue
		}
		if role >= srcChangeLSN {
			if typ != protowire.BytesType {
				continue
			}
			text, n := protowire.ConsumeBytes(raw)
			switch {
			case n < 0:
			case role == srcChangeLSN:
				ch.ChangeLSN = text
			case role == srcSCN:
				ch.SCN = text
			case role == srcFile:
				ch.File = text
			}
			continue
		}
		x, ok := sourceInt(typ, raw)
		if !ok {
			continue
		}
		switch role {
		case srcTsMs:
			ch.TsMs, ch.HasMs = x, true
		case srcTsUs:
			ch.TsUs, ch.HasUs = x, true
		case srcTsNs:
			ch.TsNs, ch.HasNs = x, true
		case srcLSN:
			ch.LSN, ch.HasLSN = x, true
		case srcPos:
			ch.Pos, ch.HasPos = x, true
		}
	}
	return nil
}

// sourceInt is the integer in a source field: a varint, or a wrapper
// message's field 1.
func sourceInt(typ protowire.Type, raw []byte) (int64, bool) {
	switch typ {
	case protowire.VarintType:
		x, n := protowire.ConsumeVarint(raw)
		return int64(x), n > 0
	case protowire.BytesType:
		b, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return 0, false
		}
		var x uint64
		for len(b) > 0 {
			num, t, n := protowire.ConsumeTag(b)
			if n < 0 {
				return 0, false
			}
			b = b[n:]
			if num == 1 && t == protowire.VarintType {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return 0, false
				}
				x, b = v, b[n:]
				continue
			}
			if n = protowire.ConsumeFieldValue(num, t, b); n < 0 {
				return 0, false
			}
			b = b[n:]
		}
		return int64(x), true
	}
	return 0, false
}

func malformedEnvelope(n int) *codec.FieldError {
	return codec.NewFieldError(codec.KindMalformedProtobuf, "change event envelope: "+protowire.ParseError(n).Error())
}

// appendChange is Append for a change event: the envelope is read for
// op, source and the after message, then the after message is the row,
// checked whole before anything is appended.
func (d *Decoder) appendChange(b codec.Row, m *codec.Message, sc *scratch) error {
	ch := &sc.change
	ch.Reset()
	after, hasAfter, err := d.env.unwrap(m.Value, &sc.merged, ch)
	if err == nil {
		err = codec.RowOp(ch.Op, ch.Op != nil, hasAfter)
	}
	s := state{buf: after, scratch: sc}
	if err == nil {
		err = d.validate(&s, m)
	}
	if err == nil {
		err = d.meta.CheckChange(ch)
	}
	if err != nil {
		return d.cfg.RowlessPolicy(err.DecodeError(m))
	}
	s.mode = modeEmit
	s.emitFields(d.root, s.static[:d.root.nslots], 0, b, nil)
	d.meta.AppendChange(b, m, ch)
	return nil
}
