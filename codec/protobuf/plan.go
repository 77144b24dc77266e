package protobuf

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
)

// conv is what one value becomes in its column.
type conv uint8

const (
	cSkip        conv = iota // no column: read past
	cBool                    // bool into boolean
	cInt32                   // int32, sint32, sfixed32 into int
	cInt64                   // any integer into long
	cIntDouble               // int32, sint32, sfixed32 into double
	cFloat                   // float into float
	cFloatDouble             // float into double
	cDouble                  // double into double
	cEnum                    // enum into string: the value's name
	cString                  // string into string, UTF-8 checked
	cBinary                  // string or bytes into binary
	cFixed                   // bytes into fixed[N] or uuid, size checked
	cUUIDText                // string into uuid: the canonical text
	cStruct                  // message into struct
	cTimestamp               // google.protobuf.Timestamp into timestamp(tz)
	cDuration                // google.protobuf.Duration into long microseconds
	cWrapper                 // a wrapper message into its scalar's column
)

// shape is a field's cardinality.
type shape uint8

const (
	shapeOne shape = iota
	shapeList
	shapeMap
)

// absent says what a singular field the message does not set becomes.
type absent uint8

const (
	absNull    absent = iota // null: the field has presence
	absDefault               // its default value, as protobuf readers see it
	absEmpty                 // an empty message (a map entry's message value)
)

// value is the plan of one value of a field (a list element for repeated
// fields) into one column type, compiled by New so that Append does no
// type inspection.
type value struct {
	kind  protoreflect.Kind
	conv  conv
	check bool     // phase 1 checks each value: UTF-8, uuid text, fixed size, uint64 range
	tname string   // the column type, for messages
	msg   *message // message kinds: the struct, well-known type, map entry or skipped message
	names *enumNames
	width int // cFixed
}

// action is what scan does with a value of a field, decided by New so
// that the hot loop branches once.
type action uint8

const (
	actSkip        action = iota // no column: read past
	actSkipMessage               // no column: check the wire format of the message
	actSet                       // a singular value, unchecked
	actString                    // a singular string, UTF-8 checked
	actChain                     // an occurrence of a chained field, unchecked
	actCheck                     // anything else checked: see state.value
)

// field is the plan of one declared field of a message.
type field struct {
	// Read by scan for every occurrence.
	wt       protowire.Type // wire type of one value
	act      action
	packable bool // a repeated scalar, accepted packed as well
	shape    shape
	slot     int32 // position in the message's frame; -1: no column, read past
	oneof    int32 // index in message.oneofs; -1: none that has a column
	v        value
	name     string
	num      protowire.Number
	col      int // position among the struct's (or the table's) columns
	// A singular field the message does not set becomes absent (def,
	// defBytes), or absentErr if that is not allowed into its column.
	absent    absent
	def       uint64 // wire form of the default, for numeric kinds
	defBytes  []byte // default of string and bytes fields
	absentErr *errSpec
}

// chain reports whether a field's occurrences are kept as a list: those of
// repeated fields are elements, and those of a singular message field are
// merged, as protobuf merges them.
func (f *field) chain() bool { return f.shape != shapeOne || f.v.msg != nil }

// column is one column of a struct or table: the field that fills it, or
// nil for a column the message lacks (always null).
type column struct {
	col int
	f   *field
}

// message is the plan of one message type onto one struct (or the table).
// Plans of messages without a column ("skip plans") have no slots: they
// only check the wire format, and are shared, so recursive types are fine.
type message struct {
	name   protoreflect.FullName
	fields []field
	dense  []*field // by field number, below denseNumbers
	sparse map[uint64]*field
	nslots int
	cols   []column  // in column order
	oneofs [][]int32 // slots of each oneof's members that have a column
	post   []int32   // fields checked after the message is read: nested messages, absence errors
	entry  bool      // a map entry: its paths are the map's
	// static is the offset of the message's frame in state.static, for a
	// message found at most once per record (the top level, and messages
	// reached from it through singular fields); -1 for the others, whose
	// frames are per depth and reused.
	static int
	wkt    wkt
	// wktTimestamp: the column value is seconds×perSec + ⌊nanos/nsDiv⌋.
	perSec, nsDiv int64
}

// assignStatic gives m and the messages reached from it through singular
// fields their frames in state.static, from offset n; it returns the end.
func (m *message) assignStatic(n int) int {
	m.static = n
	n += m.nslots
	for i := range m.fields {
		if f := &m.fields[i]; f.slot >= 0 && f.shape == shapeOne && f.v.msg != nil {
			n = f.v.msg.assignStatic(n)
		}
	}
	return n
}

// denseNumbers bounds the field numbers looked up by index rather than in
// a map.
const denseNumbers = 1024

func (m *message) lookup(num uint64) *field {
	if num < uint64(len(m.dense)) {
		return m.dense[num]
	}
	if m.sparse != nil {
		return m.sparse[num]
	}
	return nil
}

// index builds the field lookup and the lists derived from the fields.
func (m *message) index() {
	top := 0
	for i := range m.fields {
		if n := int(m.fields[i].num); n < denseNumbers {
			top = max(top, n+1)
		}
	}
	m.dense = make([]*field, top)
	for i := range m.fields {
		f := &m.fields[i]
		if f.num < denseNumbers {
			m.dense[f.num] = f
			continue
		}
		if m.sparse == nil {
			m.sparse = map[uint64]*field{}
		}
		m.sparse[uint64(f.num)] = f
	}
	for i := range m.fields {
		f := &m.fields[i]
		f.act = f.action()
		if f.slot < 0 {
			continue
		}
		if f.v.msg != nil || f.absentErr != nil {
			m.post = append(m.post, int32(i))
		}
	}
}

func (f *field) action() action {
	switch {
	case f.slot < 0 && f.v.msg != nil:
		return actSkipMessage
	case f.slot < 0:
		return actSkip
	case f.v.conv == cUUIDText || f.v.check && (f.shape != shapeOne || f.v.conv != cString):
		return actCheck
	case f.v.check:
		return actString
	case f.chain():
		return actChain
	}
	return actSet
}

// errSpec is a value error known before decoding: FieldErrors are made
// from it only on failure.
type errSpec struct {
	kind   codec.Kind
	detail string
}

func (e *errSpec) new() *codec.FieldError { return codec.NewFieldError(e.kind, e.detail) }

var (
	errNotSet = &errSpec{codec.KindMissingRequired, "not set, and the column is required"}
	errUTF8   = &errSpec{codec.KindInvalidValue, "string is not valid UTF-8"}
	errUUID   = &errSpec{codec.KindInvalidValue, "not a canonical uuid (8-4-4-4-12 hex digits)"}
	errUint64 = &errSpec{codec.KindOutOfRange, "uint64 beyond the long range"}
)

// enumNames maps enum numbers to names.
type enumNames struct {
	dense  [][]byte // numbers 0..len-1
	sparse map[int32][]byte
}

func (e *enumNames) name(n int32) ([]byte, bool) {
	if n >= 0 && int(n) < len(e.dense) && e.dense[n] != nil {
		return e.dense[n], true
	}
	b, ok := e.sparse[n]
	return b, ok
}

func namesOf(ed protoreflect.EnumDescriptor) *enumNames {
	e := &enumNames{}
	vals := ed.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		n, name := int32(v.Number()), []byte(v.Name())
		if _, ok := e.name(n); ok {
			continue // an alias: the first name wins, as protobuf's text formats do
		}
		if n >= 0 && n < denseNumbers {
			if int(n) >= len(e.dense) {
				e.dense = append(e.dense, make([][]byte, int(n)+1-len(e.dense))...)
			}
			e.dense[n] = name
			continue
		}
		if e.sparse == nil {
			e.sparse = map[int32][]byte{}
		}
		e.sparse[n] = name
	}
	return e
}

// compiler builds plans; skipped memoises skip plans so that recursive
// types terminate.
type compiler struct {
	skipped map[protoreflect.FullName]*message
}

func newField(fd protoreflect.FieldDescriptor) field {
	f := field{name: string(fd.Name()), num: fd.Number(), wt: wireType(fd.Kind()),
		slot: -1, col: -1, oneof: -1, v: value{kind: fd.Kind()}}
	switch {
	case fd.IsMap():
		f.shape = shapeMap
	case fd.IsList():
		f.shape = shapeList
		f.packable = f.wt != protowire.BytesType && f.wt != protowire.StartGroupType
	}
	return f
}

func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.VarintType
}

// skip returns the plan that reads past a message of type md, checking its
// wire format.
func (c *compiler) skip(md protoreflect.MessageDescriptor) *message {
	if m, ok := c.skipped[md.FullName()]; ok {
		return m
	}
	m := &message{name: md.FullName(), static: -1}
	c.skipped[md.FullName()] = m
	fds := md.Fields()
	m.fields = make([]field, fds.Len())
	for i := range fds.Len() {
		m.fields[i] = c.skipField(fds.Get(i))
	}
	m.index()
	return m
}

func (c *compiler) skipField(fd protoreflect.FieldDescriptor) field {
	f := newField(fd)
	if fd.Kind() == protoreflect.MessageKind {
		f.v.msg = c.skip(fd.Message())
	}
	return f
}

// message compiles md onto cols. meta reports the top-level columns filled
// from the Kafka record (nil below the top); path prefixes column names in
// errors.
func (c *compiler) message(md protoreflect.MessageDescriptor, cols []arrow.Field, prefix string, meta func(int) bool) (*message, error) {
	m := &message{name: md.FullName(), static: -1}
	byName := make(map[string]int, len(cols))
	for i, f := range cols {
		if meta == nil || !meta(i) {
			byName[f.Name] = i
		}
	}
	used := make([]bool, len(cols))
	fds := md.Fields()
	m.fields = make([]field, fds.Len())
	for i := range fds.Len() {
		fd := fds.Get(i)
		j, ok := byName[string(fd.Name())]
		if !ok {
			m.fields[i] = c.skipField(fd)
			continue
		}
		f, err := c.field(fd, cols[j], prefix+string(fd.Name()))
		if err != nil {
			return nil, err
		}
		f.col, f.slot = j, int32(m.nslots)
		m.nslots++
		used[j] = true
		m.fields[i] = f
	}
	for j, col := range cols {
		if used[j] || meta != nil && meta(j) {
			continue
		}
		if !col.Nullable {
			return nil, fmt.Errorf("column %q: required, but message %s has no field %q", prefix+col.Name, md.FullName(), col.Name)
		}
		m.cols = append(m.cols, column{col: j})
	}
	for i := range m.fields {
		if f := &m.fields[i]; f.slot >= 0 {
			m.cols = append(m.cols, column{col: f.col, f: f})
		}
	}
	slices.SortFunc(m.cols, func(a, b column) int { return cmp.Compare(a.col, b.col) })
	ods := md.Oneofs()
	for i := range ods.Len() {
		od := ods.Get(i)
		if od.IsSynthetic() { // proto3 optional: presence, not a choice
			continue
		}
		var slots []int32
		for j := range od.Fields().Len() {
			if f := &m.fields[od.Fields().Get(j).Index()]; f.slot >= 0 {
				slots = append(slots, f.slot)
			}
		}
		if len(slots) == 0 {
			continue
		}
		for j := range od.Fields().Len() {
			m.fields[od.Fields().Get(j).Index()].oneof = int32(len(m.oneofs))
		}
		m.oneofs = append(m.oneofs, slots)
	}
	m.index()
	return m, nil
}

// field compiles field fd onto column col.
func (c *compiler) field(fd protoreflect.FieldDescriptor, col arrow.Field, path string) (field, error) {
	f := newField(fd)
	dt := col.Type
	var err error
	switch f.shape {
	case shapeMap:
		mt, ok := dt.(*arrow.MapType)
		if !ok {
			return f, refusal(path, protoType(fd), dt, "")
		}
		f.v.tname = "map"
		f.v.msg, err = c.entry(fd, mt, path)
	case shapeList:
		if id := dt.ID(); id != arrow.LIST && id != arrow.LARGE_LIST {
			return f, refusal(path, protoType(fd), dt, "")
		}
		f.v, err = c.value(fd, dt.(arrow.ListLikeType).ElemField(), path+".element")
	default:
		f.v, err = c.value(fd, col, path)
		f.absent, f.def, f.defBytes = defaults(fd)
		f.absentErr = absentErr(&f, col.Nullable)
	}
	return f, err
}

// entry compiles the entry message of map field fd onto map column mt.
// An entry without key or value has the default key or value, as
// protobuf reads it; a message value is then empty, not null.
func (c *compiler) entry(fd protoreflect.FieldDescriptor, mt *arrow.MapType, path string) (*message, error) {
	m := &message{name: fd.Message().FullName(), nslots: 2, entry: true, static: -1}
	for i, part := range []struct {
		fd   protoreflect.FieldDescriptor
		col  arrow.Field
		path string
	}{{fd.MapKey(), mt.KeyField(), path + ".key"}, {fd.MapValue(), mt.ItemField(), path + ".value"}} {
		f := newField(part.fd)
		v, err := c.value(part.fd, part.col, part.path)
		if err != nil {
			return nil, err
		}
		f.v, f.slot, f.col = v, int32(i), i
		if v.msg != nil {
			f.absent = absEmpty
		} else {
			f.absent, f.def, f.defBytes = absDefault, rawOf(part.fd.Kind(), part.fd.Default()), bytesOf(part.fd.Default(), part.fd.Kind())
			f.absentErr = absentErr(&f, part.col.Nullable)
		}
		m.fields = append(m.fields, f)
	}
	m.index()
	return m, nil
}

// defaults says what field fd becomes when absent: its default (proto3
// fields without presence, and fields declared with [default = ...]), or
// null. A oneof member is null: only the member set has a value.
func defaults(fd protoreflect.FieldDescriptor) (absent, uint64, []byte) {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() ||
		fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind ||
		fd.HasPresence() && !fd.HasDefault() {
		return absNull, 0, nil
	}
	return absDefault, rawOf(fd.Kind(), fd.Default()), bytesOf(fd.Default(), fd.Kind())
}

// absentErr is the error an absent singular field f is, or nil.
func absentErr(f *field, nullable bool) *errSpec {
	switch f.absent {
	case absNull:
		if !nullable {
			return errNotSet
		}
	case absDefault:
		if isBytes(f.v.kind) {
			return checkBytes(&f.v, f.defBytes)
		}
		return checkScalar(&f.v, f.def)
	}
	return nil
}

// rawOf is the wire form of a scalar, as a varint or fixed value.
func rawOf(k protoreflect.Kind, v protoreflect.Value) uint64 {
	switch k {
	case protoreflect.BoolKind:
		if v.Bool() {
			return 1
		}
		return 0
	case protoreflect.EnumKind:
		return uint64(int64(v.Enum()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return uint64(v.Int())
	case protoreflect.Sfixed32Kind:
		return uint64(uint32(int32(v.Int())))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.EncodeZigZag(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint()
	case protoreflect.FloatKind:
		return uint64(math.Float32bits(float32(v.Float())))
	case protoreflect.DoubleKind:
		return math.Float64bits(v.Float())
	}
	return 0
}

func bytesOf(v protoreflect.Value, k protoreflect.Kind) []byte {
	switch k {
	case protoreflect.StringKind:
		return []byte(v.String())
	case protoreflect.BytesKind:
		return append([]byte{}, v.Bytes()...)
	}
	return nil
}

func isBytes(k protoreflect.Kind) bool {
	return k == protoreflect.StringKind || k == protoreflect.BytesKind
}

func isInt32(k protoreflect.Kind) bool {
	return k == protoreflect.Int32Kind || k == protoreflect.Sint32Kind || k == protoreflect.Sfixed32Kind
}

func isInt(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

// value compiles one value of fd (an element, if fd is repeated) onto col.
func (c *compiler) value(fd protoreflect.FieldDescriptor, col arrow.Field, path string) (value, error) {
	dt := col.Type
	v := value{kind: fd.Kind(), tname: typeName(dt)}
	if v.kind == protoreflect.MessageKind {
		return c.messageValue(fd, col, path)
	}
	if v.kind == protoreflect.GroupKind {
		return v, refusal(path, oneType(fd), dt, "groups are not supported")
	}
	id := dt.ID()
	_, uuidCol := dt.(*extensions.UUIDType)
	str := id == arrow.STRING || id == arrow.LARGE_STRING
	bin := id == arrow.BINARY || id == arrow.LARGE_BINARY
	k := v.kind
	switch {
	case k == protoreflect.BoolKind && id == arrow.BOOL:
		v.conv = cBool
	case isInt32(k) && id == arrow.INT32:
		v.conv = cInt32
	case isInt(k) && id == arrow.INT64:
		v.conv = cInt64
		v.check = k == protoreflect.Uint64Kind || k == protoreflect.Fixed64Kind
	case isInt32(k) && id == arrow.FLOAT64:
		v.conv = cIntDouble // exact: every int32 is a double
	case k == protoreflect.FloatKind && id == arrow.FLOAT32:
		v.conv = cFloat
	case k == protoreflect.FloatKind && id == arrow.FLOAT64:
		v.conv = cFloatDouble
	case k == protoreflect.DoubleKind && id == arrow.FLOAT64:
		v.conv = cDouble
	case k == protoreflect.EnumKind && str:
		v.conv, v.names = cEnum, namesOf(fd.Enum())
	case k == protoreflect.StringKind && str:
		v.conv, v.check = cString, true
	case k == protoreflect.StringKind && uuidCol:
		v.conv, v.check = cUUIDText, true
	case isBytes(k) && bin:
		v.conv = cBinary
	case k == protoreflect.BytesKind && uuidCol:
		v.conv, v.check, v.width = cFixed, true, 16
	case k == protoreflect.BytesKind && id == arrow.FIXED_SIZE_BINARY:
		v.conv, v.check, v.width = cFixed, true, dt.(*arrow.FixedSizeBinaryType).ByteWidth
	default:
		return v, refusal(path, oneType(fd), dt, "")
	}
	return v, nil
}

// messageValue compiles a message-typed value of fd onto col.
func (c *compiler) messageValue(fd protoreflect.FieldDescriptor, col arrow.Field, path string) (value, error) {
	md := fd.Message()
	dt := col.Type
	v := value{kind: protoreflect.MessageKind, tname: typeName(dt)}
	switch w := wellKnown(md); w {
	case wktTimestamp:
		t, ok := dt.(*arrow.TimestampType)
		if !ok || t.Unit != arrow.Microsecond && t.Unit != arrow.Nanosecond {
			return v, refusal(path, oneType(fd), dt, "")
		}
		v.conv, v.msg = cTimestamp, c.wktPlan(md, w)
		v.msg.perSec, v.msg.nsDiv = 1_000_000, 1_000
		if t.Unit == arrow.Nanosecond {
			v.msg.perSec, v.msg.nsDiv = 1_000_000_000, 1
		}
	case wktDuration:
		if dt.ID() != arrow.INT64 {
			return v, refusal(path, oneType(fd), dt, "")
		}
		v.conv, v.msg = cDuration, c.wktPlan(md, w)
	case wktWrapper:
		inner := md.Fields().ByNumber(1)
		iv, err := c.value(inner, col, path)
		if err != nil {
			return v, refusal(path, oneType(fd), dt, "")
		}
		m := c.wktPlan(md, w)
		f := &m.fields[0]
		f.v = iv
		f.absent, f.def, f.defBytes = defaults(inner)
		f.absentErr = absentErr(f, col.Nullable)
		m.post = nil
		m.index()
		v.conv, v.msg = cWrapper, m
	case wktEmpty, wktUnsupported:
		return v, refusal(path, oneType(fd), dt, "it has no column type")
	default:
		st, ok := dt.(*arrow.StructType)
		if !ok {
			return v, refusal(path, oneType(fd), dt, "")
		}
		m, err := c.message(md, st.Fields(), path+".", nil)
		if err != nil {
			return v, err
		}
		v.conv, v.msg = cStruct, m
	}
	return v, nil
}

// wktPlan is the plan of a Timestamp, Duration or wrapper: every field
// has a slot, in field number order (seconds and nanos; value).
func (c *compiler) wktPlan(md protoreflect.MessageDescriptor, w wkt) *message {
	m := &message{name: md.FullName(), wkt: w, static: -1}
	fds := md.Fields()
	for i := range fds.Len() {
		f := c.skipField(fds.Get(i))
		f.slot, f.col, f.absent = int32(i), i, absDefault
		f.v.conv = cInt64
		m.fields = append(m.fields, f)
	}
	m.nslots = len(m.fields)
	m.index()
	return m
}

func refusal(path, from string, to arrow.DataType, why string) error {
	msg := fmt.Sprintf("column %q: protobuf %s cannot go into %s", path, from, typeName(to))
	if why != "" {
		msg += ": " + why
	}
	return fmt.Errorf("%s", msg)
}

// typeName names an Arrow column type the Iceberg way, as the JSON and
// Avro decoders do in their messages; nested types by their kind only.
func typeName(dt arrow.DataType) string {
	switch dt.(type) {
	case *arrow.StructType:
		return "struct"
	case *arrow.ListType, *arrow.LargeListType:
		return "list"
	case *arrow.MapType:
		return "map"
	}
	return evolution.TypeName(dt)
}
