// Package pqzstd replaces arrow-go's Parquet zstd codec with one whose
// encoders keep a 1 MiB window instead of zstd's default 8 MiB.
//
// Parquet compresses each page on its own (EncodeAll), and a page is at
// most write.parquet.page-size-bytes (1 MiB by default), so a match can
// never reach further back than the page: an 8 MiB window only buys a
// 16 MiB history buffer per encoder, which arrow-go pools per writer and
// recreates after every garbage collection that empties the pool. With
// two writers that was 32 MiB of floe's heap, outside the memory budget.
// Output stays standard zstd that any reader decodes; pages larger than the
// window compress slightly less.
//
// Import it for its side effect, once, where Parquet files are written.
package pqzstd

import (
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Window is the encoders' window: the default Parquet page size.
const Window = 1 << 20

func init() {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic(fmt.Sprintf("pqzstd: arrow-go has no zstd codec to wrap: %v", err))
	}
	std, ok := c.(stdCodec)
	if !ok {
		panic(fmt.Sprintf("pqzstd: arrow-go's zstd codec %T lacks error-returning decode or streaming", c))
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &codec{stdCodec: std})
}

// stdCodec is what arrow-go's zstd codec offers besides encoding.
type stdCodec interface {
	compress.ErrorCodec
	compress.StreamingCodec
}

// codec encodes with small-window encoders and leaves decoding and the
// streaming API to arrow-go's codec.
type codec struct {
	stdCodec
	mu    sync.Mutex
	pools map[zstd.EncoderLevel]*sync.Pool
}

// level maps a Parquet compression level to zstd's, as arrow-go does.
func level(l int) zstd.EncoderLevel {
	if l == compress.DefaultCompressionLevel {
		return zstd.SpeedDefault
	}
	return zstd.EncoderLevelFromZstd(l)
}

func (c *codec) pool(l zstd.EncoderLevel) *sync.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pools == nil {
		c.pools = make(map[zstd.EncoderLevel]*sync.Pool)
	}
	p, ok := c.pools[l]
	if !ok {
		p = &sync.Pool{New: func() any {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithWindowSize(Window),
				zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true))
			if err != nil {
				// Only reachable with invalid constant options.
				panic(fmt.Sprintf("pqzstd: %v", err))
			}
			return enc
		}}
		c.pools[l] = p
	}
	return p
}

func (c *codec) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (c *codec) EncodeLevel(dst, src []byte, l int) []byte {
	p := c.pool(level(l))
	enc := p.Get().(*zstd.Encoder)
	defer p.Put(enc)
	return enc.EncodeAll(src, dst[:0])
}
