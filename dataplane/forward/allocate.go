package forward

// Stream is one downstream video track as the allocator sees it.
type Stream struct {
	// Rates are the measured bit rates of the source's layers, ascending
	// (one entry without simulcast). A zero rate is a layer not flowing.
	Rates []float64
	// Requested is the best layer the subscriber asked for (-1: none).
	Requested int
	// Current is the layer being forwarded (-1: none).
	Current int
}

// Allocate picks a layer for each stream so that their sum fits budget
// (bits per second), never above what each stream requested. Every stream
// first gets its lowest flowing layer, then layers are raised one step at a
// time, the stream with the lowest layer first, while they fit. Raising a
// stream above its current layer needs headroom (the next layer's rate times
// upMargin) so that a budget hovering at a boundary does not flap.
// out receives the layer per stream (-1: nothing fits or nothing flows).
func Allocate(streams []Stream, budget, upMargin float64, out []int) []int {
	out = out[:0]
	used := 0.0
	for _, s := range streams {
		l := -1
		if s.Requested >= 0 {
			for i := 0; i <= s.Requested && i < len(s.Rates); i++ {
				if s.Rates[i] > 0 {
					l = i
					break
				}
			}
		}
		if l >= 0 {
			used += s.Rates[l]
		}
		out = append(out, l)
	}
	for {
		best := -1
		for i, s := range streams {
			l := out[i]
			if l < 0 || l >= s.Requested || l+1 >= len(s.Rates) || s.Rates[l+1] <= 0 {
				continue
			}
			need := s.Rates[l+1] - s.Rates[l]
			if l+1 > s.Current {
				need = s.Rates[l+1]*upMargin - s.Rates[l]
			}
			if used+need > budget {
				continue
			}
			if best < 0 || out[i] < out[best] {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		l := out[best]
		used += streams[best].Rates[l+1] - streams[best].Rates[l]
		out[best] = l + 1
	}
}
