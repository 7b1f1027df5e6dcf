// Package e2e holds the client library's end-to-end tests: a real
// sealpostd process (key server and relay over TLS 1.3, on SQLite files or
// PostgreSQL), clients in the test process, and a receiving client in a
// process of its own (./receiver) that the tests kill with SIGKILL.
//
// The tests are in package e2e_test; this file only names the package.
package e2e
