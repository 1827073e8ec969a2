// Package kuborpc serves the subset of Kubo's RPC API (/api/v0/…) that Kubo's
// own CLI, its client libraries and IPFS Cluster use, with Kubo's wire
// behaviour, and provides the Go client flotilla's CLI talks through.
package kuborpc
