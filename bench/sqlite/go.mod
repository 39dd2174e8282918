module github.com/attest-dev/attest/bench/sqlite

go 1.26.8

require github.com/attest-dev/attest v0.0.0

require (
	github.com/mattn/go-sqlite3 v1.14.53
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.49.0
)

replace github.com/attest-dev/attest => ../..
