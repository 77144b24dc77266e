// Package protobuf decodes the Protobuf binary value of a Kafka record into
// one row of an Arrow record builder whose schema comes from the Iceberg
// table, with the contract of the JSON decoder in package codec: exactly
// one row or nothing, errors as *codec.DecodeError with the record's
// coordinates, the field path and a Kind, metadata columns filled the same
// way.
//
// # Schemas
//
// [Parse] compiles a .proto file (proto2, proto3 or editions) with its
// imports, as a Schema Registry stores them; [Schema.Message] picks a
// message by its Confluent message-index path, [Schema.MessageByName] by
// name. [ArrowSchema] is the table floe creates for a message; [New]
// compiles a message onto a table's Arrow schema. Fields are matched to
// columns by their protobuf field name, in nested messages too. A field
// the table lacks is read past (its wire format is still checked); a
// column the message lacks is null, or refused by New if it is required.
// A field named like a metadata column is read past: those columns come
// from Kafka.
//
//	Protobuf                      column created    also into (New)
//	bool                          boolean
//	int32, sint32, sfixed32       int               long, double
//	uint32, fixed32               long
//	int64, sint64, sfixed64       long
//	uint64, fixed64               long: a value over 2^63-1 is out_of_range
//	float                         float             double
//	double                        double
//	string                        string            uuid (the canonical text,
//	                                                else invalid_value), binary
//	bytes                         binary            fixed[N], uuid: N or 16
//	                                                bytes, else invalid_value
//	enum                          string: the value's name; a number the enum
//	                              does not name (proto3 enums are open): its
//	                              decimal text
//	message                       struct, recursively by field name
//	repeated T                    list<T>
//	map<K, V>                     map<K, V> (string, integer or boolean keys)
//	oneof members                 one optional column each; only the member
//	                              set has a value
//	google.protobuf.Timestamp     timestamptz       timestamp (as UTC wall
//	                                                time); nanosecond columns
//	                                                exactly
//	google.protobuf.Duration      long: microseconds, truncated toward zero
//	google.protobuf wrappers      the wrapped type's column (Int64Value: long,
//	(BoolValue … BytesValue)      StringValue: string, …); unset: null
//	google.protobuf.Empty, a      no column (read past)
//	message without fields
//	google.protobuf.Any, Struct,  not supported yet: refused by ArrowSchema and
//	Value, ListValue; groups      New, read past where the table lacks them
//
// Timestamps go into microsecond columns with their nanoseconds truncated
// toward the past, as in JSON and Avro. Every pair not listed (int64 into
// int, double into float, an enum into int, a Duration into a timestamp)
// is refused by New with the column and both types: floe never narrows or
// guesses a unit.
//
// # Presence and defaults
//
// ArrowSchema makes a proto2 required field a required column and every
// other field an optional one, repeated and map fields included. A field a
// message does not set reads as protobuf readers see it:
//
//   - a field without presence (proto3, neither optional nor in a oneof):
//     its default, 0, "", false, empty bytes or the enum's first value;
//   - a field declared with [default = x]: x;
//   - any other field with presence (proto3 optional, proto2 optional and
//     required, oneof members, messages, wrappers): null, which into a
//     required column is missing_required;
//   - a repeated or map field: empty, never null.
//
// A default that cannot go into its column (the empty string into a uuid
// column) is refused as the value would be.
//
// # Wire rules
//
// Fields come in any order and may repeat, as protobuf allows: the last
// value of a singular field wins; the occurrences of a singular message are
// merged (at every depth: later scalars win, repeated fields append); of a
// oneof, the member that comes last is set; repeated scalars are read
// packed or not, even mixed. Of map entries with equal keys the last wins,
// in its place (not an error, unlike JSON and Avro); an entry without key
// or value has the default one (an empty message for message values).
// Integers are read as protobuf reads them: a value too wide for its
// field's type is truncated (int32, int64, uint32, uint64 and bool share
// one wire type), and a bool is true when not zero. Unknown field numbers
// and groups are read past, their wire format checked. Every occurrence of
// a value is checked, overridden ones too.
//
// Two choices differ from protobuf's own readers, which keep such data as
// unknown fields: a field whose wire type does not match its declared type
// is malformed_protobuf rather than silently dropped, and a number that a
// proto2 (closed) enum does not define is stored as its decimal text.
//
// # Guarantee
//
// Append reads the message in two phases. Phase 1 reads every field, notes
// where each field's value is in a frame per message, and checks the wire
// format and every value against its column (UTF-8, ranges, uuid text,
// sizes, required columns) without touching the builders; phase 2 appends
// from those frames in column order and cannot fail. Frames of messages
// that occur once per record (the top level, and what is reached from it
// through singular fields) are kept from phase 1; others (list elements,
// map entries) are scanned again, so memory is bounded by depth. Steady
// state allocates nothing.
//
// # Errors
//
// A value that is not a valid Protobuf encoding of its message (truncated,
// a varint over 10 bytes or 64 bits, a length past the end, a wire type
// that does not match the field's type, a field number 0 or beyond
// 2^29-1, wire type 6 or 7, a group not closed) is malformed_protobuf, in
// preference to any other kind, with the byte position. Value errors use
// the JSON decoder's kinds: invalid_value (invalid UTF-8 in a string
// column, a uuid that is not canonical, bytes of the wrong length),
// out_of_range (a uint64 over the long range, a Timestamp outside its
// column's range, a Duration whose microseconds overflow a long),
// missing_required, null_value (a tombstone; an empty value is a valid
// message with no field set), record_too_large (max-record-bytes, and
// messages nested more than 100 levels). Messages never quote values; map
// keys appear on the path, as in JSON.
//
// # Framing
//
// Append reads the bare message. Values framed for a Schema Registry carry
// a magic byte, a schema ID and the message-index list first; package
// codec/registry removes them.
package protobuf
