// Package secmem holds secrets in memory: the few calls of
// github.com/awnumar/memguard that Sealpost's client uses, with a build for
// the browser, where memguard does not build.
//
// Natively (every GOOS but js) the types are memguard's own: buffers are
// mlocked, surrounded by guard pages and read-only when frozen, and an
// Enclave is encrypted under a key held in locked memory.
//
// In the browser (GOOS=js) WebAssembly has one linear memory that cannot be
// locked or protected: a LockedBuffer is an ordinary byte slice that
// Destroy overwrites with zeros, and an Enclave is an ordinary copy.
// Erasure is best effort there, as it is for every copy that passes through
// the Go heap (SECURITY.md).
package secmem
