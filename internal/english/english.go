// Package english bends the few words attest's messages put beside a
// number, the same way on the screens, in commands and in messages.
package english

import "strconv"

// Plural is one for 1 and many for any other n: "1 try left", "0 tries
// left", "3 tries left".
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count is n and its word: "1 star", "3 stars".
func Count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + Plural(n, one, many)
}
