// Package arch has no code: its test holds the dependency rules between
// flotilla's packages, each with the reason it exists.
package arch
