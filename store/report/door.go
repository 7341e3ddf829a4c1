package report

// topSources is how many sources a door lists.
const topSources = 3

// Door counts the forgeries stopped (or that enforce mode would stop) at
// one door, with the sources that tried most.
type Door struct {
	Door    string   `json:"door"`
	Count   int      `json:"count"`
	Top     []Source `json:"top_sources"`
	sources Counts
}

// Source is a sender source and how many forgeries came from it.
type Source struct {
	Source string `json:"source"`
	Count  int    `json:"count"`
}

func (d *Domain) door(name string) *Door {
	door := d.doors[name]
	if door == nil {
		door = &Door{Door: name, sources: Counts{}}
		d.doors[name] = door
	}
	return door
}

func (door *Door) add(source string, n int) {
	door.Count += n
	door.sources[source] += n
}

// settle keeps the top sources.
func (door *Door) settle() {
	for _, s := range door.sources.Sorted() {
		if len(door.Top) == topSources {
			break
		}
		door.Top = append(door.Top, Source{Source: s, Count: door.sources[s]})
	}
}
