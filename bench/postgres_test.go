package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/attest-dev/attest/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// signUpServers starts n servers on one new database of the test
// cluster, sharing the first one's secret. The first reads its demo
// inbox, which holds every server's messages; sign-up i goes to server
// i%n for both of its commands.
func signUpServers(tb testing.TB, n int) func(i int) error {
	url := pgtest.Start(tb).NewDatabase(tb)
	first := startSSHOn(tb, url, "", true)
	rigs := []*sshRig{first}
	for range n - 1 {
		r := startSSHOn(tb, url, filepath.Join(first.app.Config.DataDir, "secret"), false)
		r.desk = first.desk
		rigs = append(rigs, r)
	}
	for _, r := range rigs {
		if !r.app.WaitShared(10 * time.Second) {
			tb.Fatal("the servers do not hear each other")
		}
	}
	return func(i int) error { return rigs[i%n].signUp(i, false) }
}

// BenchmarkSignUpSSHPostgres: complete sign-ups over real SSH, 64 clients
// at once, on one and on two servers sharing one PostgreSQL database (in
// this process, as the SSH benchmarks are):
//
//	go test -run '^$' -bench SignUpSSHPostgres -benchtime 2000x ./bench/
func BenchmarkSignUpSSHPostgres(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(map[int]string{1: "one-server", 2: "two-servers"}[n], func(b *testing.B) {
			report(b, "signups", signUpServers(b, n))
		})
	}
}

// The harness works: sign-ups spread over two servers on one database,
// each code read from the first server's inbox.
func TestSignUpSSHPostgres(t *testing.T) {
	signUp := signUpServers(t, 2)
	if _, _, err := load(8, 8, signUp); err != nil {
		t.Fatal(err)
	}
}
