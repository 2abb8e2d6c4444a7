package pas

// SingleInstanceRows is how many log rows the single-instance checks of
// s, a store OpenStore opened, have read.
func SingleInstanceRows(s Store) int64 { return s.(*sqlStore).singleRows.Load() }
