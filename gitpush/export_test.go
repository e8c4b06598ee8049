package gitpush

// SetBeforeUpdateRef installs fn to run before each update-ref of PutFile.
// Call it before l is used.
func SetBeforeUpdateRef(l *Local, fn func(project string, attempt int)) { l.beforeUpdateRef = fn }
