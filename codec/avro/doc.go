// Package avro decodes the Avro binary value of a Kafka record into one row
// of an Arrow record builder whose schema comes from the Iceberg table,
// with the contract of the JSON decoder in package codec: exactly one row
// or nothing, errors as *codec.DecodeError with the record's coordinates,
// the field path and a Kind, metadata columns filled the same way.
//
// # Schemas
//
// [New] takes the writer schema (Avro schema JSON) and the table's Arrow
// schema. Writer fields are matched to columns by name, in nested records
// too. A writer field the table lacks is read past; a column the writer
// lacks is null, or refused by New if it is required. A writer field named
// like a metadata column is read past: those columns come from Kafka.
//
//	Avro                             column (Iceberg)
//	null                             any optional column: always null
//	boolean                          boolean
//	int                              int, long, double
//	long                             long
//	float                            float, double
//	double                           double
//	string                           string; uuid and fixed[16] from the
//	                                 canonical text (else invalid_value);
//	                                 binary
//	bytes                            binary
//	fixed(N)                         fixed[N]; binary; uuid if N is 16
//	enum                             string: the symbol
//	array<T>                         list<T>
//	map<T>                           map<string, T>
//	record                           struct, recursively
//	["null", T], [T, "null"]         T, optional; null into a required
//	                                 column is missing_required
//	decimal(p,s) on bytes or fixed   decimal(P,S): rescaled exactly, never
//	                                 rounded; a value needing rounding or
//	                                 more than P digits is out_of_range
//	date                             date
//	time-millis, time-micros         time (out_of_range outside one day)
//	timestamp-millis/micros/nanos    timestamptz, or timestamp as UTC wall
//	                                 time (as for a JSON string with a zone)
//	local-timestamp-millis/…/nanos   timestamp only
//	uuid on string or fixed(16)      uuid, fixed[16] (string: also string)
//
// Timestamps go into microsecond or nanosecond columns; nanoseconds into
// microseconds are truncated toward the past, as in JSON. Other unions,
// and every pair not listed (long into int, double into float, a plain
// long into timestamp), are refused by New with the column and both
// types: floe never narrows or guesses a unit. As the Avro specification
// asks, an unknown or invalid logical type is ignored and its underlying
// type used. Recursive writer types are fine where the table does not
// follow them.
//
// # Guarantee
//
// Append reads the datum twice with the same plan: phase 1 checks the
// wire format (lengths, varints, union and enum indexes, bytes left over)
// and every value against its column (UTF-8, ranges, decimal fit, nulls in
// required columns, duplicate map keys) without touching the builders;
// phase 2 appends and cannot fail. Avro has no delimiters, so re-reading
// costs less than storing an intermediate form.
//
// # Errors
//
// A datum that is not valid for the writer schema is malformed_avro, in
// preference to any other kind, with the byte position. Value errors use
// the JSON decoder's kinds: invalid_value (invalid UTF-8, a uuid that is
// not canonical, a duplicate map key), out_of_range, missing_required,
// null_value (a tombstone), record_too_large (max-record-bytes, and data
// nested more than 100 levels or with more zero-byte items than bytes).
// Messages never quote values; map keys appear on the path, as in JSON.
//
// # Framing
//
// Append reads the bare datum. Values framed for a Schema Registry carry a
// magic byte and a schema ID first; registry.Unframe (codec/registry) removes them.
package avro
