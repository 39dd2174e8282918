package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/attest-dev/attest/internal/cpuuse"
	"github.com/attest-dev/attest/store/postgres"
	"github.com/attest-dev/attest/store/postgres/pgtest"
)

// TestMain serves instead, in a child process of the screens benchmark
// (see serveChild).
func TestMain(m *testing.M) {
	serveChild()
	pgtest.Main(m)
}

// signUpServers starts n servers on one new database of the test
// cluster, sharing the first one's secret. The first reads its demo
// inbox, which holds every server's messages; sign-up i goes to server
// i%n for both of its commands.
func signUpServers(tb testing.TB, n int) func(i int) error {
	url := pgtest.Start(tb).NewDatabase(tb)
	signUp, _ := signUpServersOn(tb, url, n)
	return signUp
}

func signUpServersOn(tb testing.TB, url string, n int) (signUp func(i int) error, ledgers []*postgres.Ledger) {
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
	for _, r := range rigs {
		ledgers = append(ledgers, r.app.Ledger.(*postgres.Ledger))
	}
	return func(i int) error { return rigs[i%n].signUp(i, false) }, ledgers
}

// BenchmarkSignUpSSHPostgres: complete sign-ups over real SSH, 64 clients
// at once, on one and on two servers sharing one PostgreSQL database (in
// this process, as the SSH benchmarks are); the two-server run reports
// its rate over the one-server run's just before it (x-one-server):
//
//	go test -run '^$' -bench SignUpSSHPostgres -benchtime 1000x ./bench/
func BenchmarkSignUpSSHPostgres(b *testing.B) {
	var one float64 // the one-server run's sign-ups a second
	for _, n := range []int{1, 2} {
		b.Run(map[int]string{1: "one-server", 2: "two-servers"}[n], func(b *testing.B) {
			c := pgtest.Start(b)
			signUp, ledgers := signUpServersOn(b, c.NewDatabase(b), n)
			before := make([]postgres.Stats, n)
			for i, l := range ledgers {
				before[i] = l.Stats()
			}
			start := time.Now()
			m := cpuuse.Start(c.Pid())
			report(b, "signups", signUp)
			u := m.Stop()
			wall := time.Since(start)
			// How busy the append lock was (every server's batches take
			// it in turn), and what a batch did while holding it.
			var held time.Duration
			var reads, ahead, commits, updates uint64
			for i, l := range ledgers {
				s := l.Stats()
				held += s.Held - before[i].Held
				reads += s.Reads - before[i].Reads
				ahead += s.ReadsAhead - before[i].ReadsAhead
				commits += s.Commits - before[i].Commits
				updates += s.Updates - before[i].Updates
			}
			rate := float64(b.N) / wall.Seconds()
			if n == 1 {
				one = rate
			} else if one > 0 {
				b.ReportMetric(rate/one, "x-one-server")
			}
			b.ReportMetric(100*float64(held)/float64(wall), "lock-busy%")
			b.ReportMetric(float64(updates)/float64(max(commits, 1)), "updates/commit")
			// Reads under the lock (each a round trip every server waits
			// for) and ahead of it, on a snapshot.
			b.ReportMetric(float64(reads)/float64(max(updates, 1)), "reads/update")
			b.ReportMetric(float64(ahead)/float64(max(updates, 1)), "reads-ahead/update")
			b.ReportMetric(float64(held)/float64(time.Millisecond)/float64(max(commits, 1)), "ms-held/commit")
			// This process holds the servers and the SSH clients; the
			// cluster is PostgreSQL; the machine's share counts other
			// work on it too.
			b.ReportMetric(u.Self, "self-cpu%")
			b.ReportMetric(u.Tree, "pg-cpu%")
			b.ReportMetric(u.Machine, "box-cpu%")
			b.ReportMetric(u.Waited/100, "runq-threads")
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
