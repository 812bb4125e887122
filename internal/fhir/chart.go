package fhir

// Chart is one patient's resources gathered from all prefetch keys (and
// fetched queries) of one hook call. The zero value is an empty chart.
type Chart struct {
	satisfied map[string]bool
	seen      map[string]bool
	resources []Resource
}

// Add records that prefetch key was satisfied, with resources (none for a
// key whose value was null or an empty searchset) and adds them to the
// chart. A resource already added under another key (same type and id) is
// kept once. Keys never added are unsatisfied: inputs that need them are
// missing rather than false.
func (c *Chart) Add(key string, resources []Resource) {
	if c.satisfied == nil {
		c.satisfied = map[string]bool{}
		c.seen = map[string]bool{}
	}
	c.satisfied[key] = true
	for _, r := range resources {
		if r.ID != "" {
			if c.seen[r.Ref()] {
				continue
			}
			c.seen[r.Ref()] = true
		}
		c.resources = append(c.resources, r)
	}
}

// Satisfied reports whether key was added.
func (c *Chart) Satisfied(key string) bool { return c.satisfied[key] }

// of lists the chart's resources of one type that the mapping reads.
func (c *Chart) of(resourceType string) []*body {
	var out []*body
	for _, r := range c.resources {
		if r.Type == resourceType && r.b != nil {
			out = append(out, r.b)
		}
	}
	return out
}
