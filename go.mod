module github.com/sealpost/sealpost

go 1.26.4

require (
	filippo.io/edwards25519 v1.2.0
	github.com/c2sp/wycheproof v0.0.0-20260902155932-3fa63dd0344a
	golang.org/x/crypto v0.59.0
	golang.org/x/mod v0.43.0
)

require golang.org/x/sys v0.50.0 // indirect
