package codec

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTmpCPU(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Metadata = MetadataColumns{Topic: "kafka_topic", Partition: "kafka_partition",
		Offset: "kafka_offset", Timestamp: "kafka_timestamp"}
	schema := arrowSchema(t, benchFields()...)
	d, _ := New(schema, cfg)
	st := newState()
	m := &Message{Topic: "events", Timestamp: time.Now(), Value: []byte(benchValue)}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	v := []byte(benchValue)
	const N = 300000
	run := func(name string, f func(i int)) {
		for i := range 1000 {
			f(i)
		}
		c0, w0 := cpuNow(), time.Now()
		for i := range N {
			f(i)
		}
		t.Logf("%-10s cpu %v/op wall %v/op", name, (cpuNow()-c0)/N, time.Since(w0)/N)
	}
	for range 2 {
		run("append", func(i int) {
			if err := d.Append(rb, m); err != nil {
				t.Fatal(err)
			}
			if i%10000 == 9999 {
				rb.NewRecordBatch().Release()
			}
		})
		run("phase1", func(int) { d.decode(st, m) })
		run("skip", func(int) { validate(v) })
		run("jsonvalid", func(int) { json.Valid(v) })
		var mm map[string]any
		run("unmarshal", func(int) { mm = nil; json.Unmarshal(v, &mm) })
	}
}
