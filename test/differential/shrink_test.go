package differential

import "slices"

// shrink deletes parts of c (any list element or object field of its JSON
// form, largest first) for as long as the result is still a valid cluster
// in which q's endpoints exist and keep holds, so that a disagreement is
// reported on the smallest cluster that still shows it.
func shrink(c *cluster, q query, keep func(*cluster) bool) *cluster {
	var tree any
	if err := roundTrip(c, &tree); err != nil {
		return c
	}
	best := c
	for {
		progress := false
		for _, path := range nodePaths(tree, nil) {
			candidate := deleteAt(tree, path)
			var s cluster
			if roundTrip(candidate, &s) != nil || validate(&s) != nil || !hasEndpoint(&s, q.From) || !hasEndpoint(&s, q.To) || !keep(&s) {
				continue
			}
			tree, best, progress = candidate, &s, true
			break
		}
		if !progress {
			return best
		}
	}
}

func hasEndpoint(c *cluster, ip string) bool {
	_, ok := c.podByIP(ip)
	return ok || slices.Contains(c.External, ip)
}

// nodePaths lists the paths of every node under tree, parents before
// children. A path step is a string (object key) or an int (list index).
func nodePaths(tree any, prefix []any) [][]any {
	var out [][]any
	switch t := tree.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := append(slices.Clone(prefix), k)
			out = append(out, p)
			out = append(out, nodePaths(t[k], p)...)
		}
	case []any:
		for i, v := range t {
			p := append(slices.Clone(prefix), i)
			out = append(out, p)
			out = append(out, nodePaths(v, p)...)
		}
	}
	return out
}

// deleteAt returns a copy of tree without the node at path.
func deleteAt(tree any, path []any) any {
	if len(path) == 0 {
		return tree
	}
	switch t := tree.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			out[k] = v
		}
		k := path[0].(string)
		if len(path) == 1 {
			delete(out, k)
		} else {
			out[k] = deleteAt(t[k], path[1:])
		}
		return out
	case []any:
		i := path[0].(int)
		if len(path) == 1 {
			return slices.Delete(slices.Clone(t), i, i+1)
		}
		out := slices.Clone(t)
		out[i] = deleteAt(t[i], path[1:])
		return out
	}
	return tree
}
