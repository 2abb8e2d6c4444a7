// Package hint carries, with an error, what the user should do next
// (Error), and marks mistakes in how a command was called (UsageError).
// The truce command prints the hint on a "hint:" line after the error and
// exits 2 for a usage error; the internal packages that do a command's
// work return these so that the advice is given where the cause is known.
//
// It is a leaf: it must never import another Truce package, and it never
// prints anything itself.
package hint

import "fmt"

// UsageError is a mistake in how a command was called: a missing,
// malformed or conflicting flag or argument.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with the formatted message.
func Usagef(format string, a ...any) error {
	return &UsageError{fmt.Sprintf(format, a...)}
}

// Error is an error with what the user should do about it.
type Error struct {
	Err error
	// Hint says what to do next, such as "give --dir DIR".
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With attaches the formatted hint to err. A nil err stays nil.
func With(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return &Error{err, fmt.Sprintf(format, a...)}
}
