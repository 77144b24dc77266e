// Package jsonschema maps a JSON Schema, as a Schema Registry stores it
// (schemaType JSON), to the Arrow schema of the table floe creates for the
// topic: [ArrowSchema]. The values are decoded by the JSON decoder of
// package codec, so each schema maps to the column type that decoder fills
// from the JSON the schema admits.
//
// # Mapping
//
// The root must be an object schema with properties: they are the table's
// columns, in document order (a nested object's properties likewise).
//
//	JSON Schema                                 column (Iceberg)
//	boolean                                     boolean
//	integer                                     long
//	integer, connect.type int8/int16/int32      int
//	number                                      double
//	number, connect.type float32                float
//	number with title                           decimal(P,S): S from
//	  org.apache.kafka.connect.data.Decimal     connect.parameters.scale, P from
//	                                            its connect.decimal.precision
//	                                            (default 38, at most 38)
//	integer with title …connect.data.Timestamp  timestamptz (epoch milliseconds)
//	integer with title …connect.data.Date       date (days since the epoch)
//	string                                      string
//	string, format date-time                    timestamptz
//	string, format date                         date
//	string, format uuid                         uuid
//	string, contentEncoding base64              binary
//	  or connect.type bytes
//	string, any other format (time, email, …)   string
//	enum, const                                 the type of their values
//	                                            (an enum of strings: string)
//	array, items one schema                     list<T>
//	object with properties                      struct, the properties in order
//	object without properties, with             map<string, V>
//	  additionalProperties V (a schema) or
//	  patternProperties of one pattern V
//
// A property is a required column when it is in "required" and its schema
// does not admit null; every other column, and every list element and map
// value whose schema admits null, is optional. Null is admitted by "type"
// with "null" (["string", "null"]), by oneOf or anyOf of a null schema and
// one other ({"oneOf": [{"type": "null"}, X]}, in either order, as Kafka
// Connect writes optional fields), by an enum with null, and by a schema
// that constrains no type ({"properties": …} without "type"), itself or
// through its $ref and allOf.
//
// "type" is a name or an array of names; "number" with "integer" is
// number. Without "type", properties or additionalProperties make an
// object and items an array. $ref follows JSON pointers (#/definitions/X,
// #/$defs/X, #/properties/a), anchors ($anchor, or a draft-07 "$id":
// "#name"), and other documents: by their reference name in refs (the
// registry's schema references), or by $id, each with an optional #
// fragment; a relative $ref also tries its resolution against the
// referring document's $id. Up to draft-07 (and without $schema, as
// Confluent defaults to draft-07) $ref replaces its sibling keywords; from
// 2019-09 on they apply beside it. allOf, and $ref with siblings, are
// read as one schema: their properties are merged (referenced and allOf
// schemas first, then the schema's own), "required" lists joined, types
// intersected; a property declared twice takes both schemas. Keywords
// that only constrain values (minimum, maxLength, pattern, …) are not
// part of the type and are ignored; so are properties that only
// additionalProperties, beside properties, would admit: keys without a
// property are ignored, even under schema-evolution add-columns, which
// adds the properties a newer writer schema declares (see Format).
//
// # Refusals
//
// Refused with the JSON pointer of the schema and the reason, as having no
// column type: a schema admitting any value (true, {}) or only null; types
// that do not meet (allOf of a string and an integer) and type arrays of
// two types besides null; other oneOf and anyOf, not, if/then/else,
// dependentSchemas and schema dependencies; an array without items or
// with tuple items (an items array, prefixItems); an object without
// properties or a schema for additionalProperties (an object with only
// additionalProperties true), or with several patternProperties; a $ref
// to a schema that contains it (a recursive type); conflicting formats; a
// decimal beyond 38 digits; an empty property name; a key twice in one
// object.
//
// Format "time" is a string column: an RFC 3339 time carries a zone offset
// (10:00:00Z), which a table time cannot hold and the JSON decoder does
// not read. Kafka Connect's JSON Schema converter writes decimals as
// base64 by default (decimal.format BASE64); the decoder reads decimal
// columns from JSON numbers and numeric strings only, so such values need
// decimal.format NUMERIC.
package jsonschema
