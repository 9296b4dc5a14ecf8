package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets: exact below 128 ns, then
// 64 buckets per power of two (under 1.6% error), up to about 18 minutes.
// Record is lock-free, so all connections of a run can share one.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histMaxExp  = 40 // values up to 2^40 ns
	histBuckets = (histMaxExp-histSubBits)*histSub + 2*histSub
)

func histIndex(v uint64) int {
	shift := bits.Len64(v) - histSubBits - 1
	if shift <= 0 {
		return int(v)
	}
	if shift > histMaxExp-histSubBits {
		return histBuckets - 1
	}
	return shift*histSub + int(v>>uint(shift))
}

// histLow is the smallest value of bucket i.
func histLow(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	top := uint64(i - shift*histSub)
	return top << uint(shift)
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the value at quantile q (0..1): the middle of the bucket
// holding the ceil(q*count)-th smallest value, never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo := histLow(i)
			hi := histLow(i + 1)
			mid := time.Duration(lo + (hi-lo)/2)
			if m := h.Max(); mid > m {
				return m
			}
			return mid
		}
	}
	return h.Max()
}
