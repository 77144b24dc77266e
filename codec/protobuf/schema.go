package protobuf

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema is one parsed .proto file (proto2, proto3 or editions) as a
// Confluent Schema Registry stores it, linked with its imports.
type Schema struct {
	file protoreflect.FileDescriptor
}

// Parse compiles text, the source of one .proto file. refs maps each of its
// import paths ("acme/common.proto") to that file's source: the registry's
// schema references, recursively. The well-known google/protobuf/*.proto
// imports resolve without refs. Errors name the file, the line and the
// problem; the parsed file itself is called schema.proto.
func Parse(text string, refs map[string]string) (*Schema, error) {
	name := "schema.proto"
	for _, taken := refs[name]; taken; _, taken = refs[name] {
		name = "_" + name
	}
	srcs := make(map[string]string, len(refs)+1)
	for k, v := range refs {
		srcs[k] = v
	}
	srcs[name] = text
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(srcs),
		}),
		MaxParallelism: 1, // a registry schema is a handful of small files
	}
	files, err := c.Compile(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("protobuf schema: %w", err)
	}
	return &Schema{file: files[0]}, nil
}

// Message returns the message a Confluent message-index path names: [] and
// [0] are the file's first top-level message, [1] the second, [1, 0] the
// first message nested in the second, and so on.
func (s *Schema) Message(indexes []int) (protoreflect.MessageDescriptor, error) {
	if len(indexes) == 0 {
		indexes = []int{0}
	}
	msgs := s.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i < 0 || i >= msgs.Len() {
			where := "the file"
			if md != nil {
				where = "message " + string(md.FullName())
			}
			return nil, fmt.Errorf("message index path %v: %s has %d messages, no message %d", indexes, where, msgs.Len(), i)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	return md, nil
}

// MessageByName returns the message of the given full name
// ("acme.v1.Order", with or without a leading dot), which may also be
// defined in an imported file, or, if exactly one message of the file has
// it, of the given simple name ("Order").
func (s *Schema) MessageByName(name string) (protoreflect.MessageDescriptor, error) {
	name = strings.TrimPrefix(name, ".")
	if md := findMessage(s.file, protoreflect.FullName(name), map[string]bool{}); md != nil {
		return md, nil
	}
	var found []protoreflect.MessageDescriptor
	var walk func(protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := range msgs.Len() {
			md := msgs.Get(i)
			if string(md.Name()) == name && !md.IsMapEntry() {
				found = append(found, md)
			}
			walk(md.Messages())
		}
	}
	walk(s.file.Messages())
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("protobuf schema: no message %s", name)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, md := range found {
		names[i] = string(md.FullName())
	}
	return nil, errors.New("protobuf schema: message name " + name + " is ambiguous: " + strings.Join(names, ", "))
}

// findMessage looks for the message of the given full name in f and the
// files f imports.
func findMessage(f protoreflect.FileDescriptor, name protoreflect.FullName, seen map[string]bool) protoreflect.MessageDescriptor {
	if seen[f.Path()] {
		return nil
	}
	seen[f.Path()] = true
	if md := f.Messages().ByName(name.Name()); md != nil && md.FullName() == name {
		return md
	}
	var walk func(protoreflect.MessageDescriptors) protoreflect.MessageDescriptor
	walk = func(msgs protoreflect.MessageDescriptors) protoreflect.MessageDescriptor {
		for i := range msgs.Len() {
			md := msgs.Get(i)
			if md.FullName() == name {
				return md
			}
			if found := walk(md.Messages()); found != nil {
				return found
			}
		}
		return nil
	}
	if md := walk(f.Messages()); md != nil {
		return md
	}
	for i := range f.Imports().Len() {
		if md := findMessage(f.Imports().Get(i).FileDescriptor, name, seen); md != nil {
			return md
		}
	}
	return nil
}

// envelope is the file's first top-level message that is a Debezium
// Envelope (a message field after and a string op), else its first
// message: a table of change events created without record-name.
func (s *Schema) envelope() (protoreflect.MessageDescriptor, error) {
	msgs := s.file.Messages()
	for i := range msgs.Len() {
		if _, _, err := afterMessage(msgs.Get(i)); err == nil {
			return msgs.Get(i), nil
		}
	}
	return s.Message(nil)
}
