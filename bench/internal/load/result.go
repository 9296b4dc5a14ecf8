package load

import (
	"bytes"
	"encoding/json"
	"math"
	"time"
)

// Result is one scenario outcome: an ordered set of fields, printed as one
// JSON object per line so scripts can aggregate runs.
type Result struct {
	keys []string
	vals map[string]any
}

// NewResult starts a result with the fields every scenario has.
func NewResult(scenario, label, addr string) *Result {
	r := &Result{vals: map[string]any{}}
	r.Set("scenario", scenario)
	r.Set("label", label)
	r.Set("addr", addr)
	r.Set("ok", false)
	return r
}

// Set adds or replaces a field; floats are rounded to 3 decimals.
func (r *Result) Set(key string, v any) {
	switch f := v.(type) {
	case float64:
		v = round3(f)
	case time.Duration:
		v = round3(f.Seconds() * 1000) // milliseconds
	}
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.vals[key] = v
}

// Get returns a field.
func (r *Result) Get(key string) any { return r.vals[key] }

// Fail marks the result failed with err (the first error wins).
func (r *Result) Fail(err error) {
	r.Set("ok", false)
	if _, ok := r.vals["error"]; !ok && err != nil {
		r.Set("error", err.Error())
	}
}

// MarshalJSON writes the fields in the order they were first set.
func (r *Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(r.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func round3(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1000) / 1000
}

func ms(d time.Duration) float64 { return round3(d.Seconds() * 1000) }
