package bench

import (
	"path/filepath"
	"runtime"
	"slices"
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
// at once, on one server and on two sharing one PostgreSQL database (in
// this process, as the SSH benchmarks are; each setup on its own database
// of one cluster). The machine is shared, so the two setups take turns in
// windows of b.N/4 sign-ups each, in the order one, two, two, one, one,
// two, two, one (a load that drifts weighs on both alike), and b.N
// sign-ups each in all:
//
//	go test -run '^$' -bench SignUpSSHPostgres -benchtime 1000x ./bench/
//
// It reports each setup's sign-ups a second (one-, two-signups/s), the
// ratio (two/one, the goal's), their median windows' ratio too
// (two/one-median), what a sign-up cost in CPU in this process (servers
// and SSH clients) and in PostgreSQL, and what the append lock did: how
// busy it was (summed over the servers: every server's batches take it in
// turn), the read statements an update ran under it and ahead of it, how
// long a commit held it, and the share of a server's time its batches ran
// ahead of it.
func BenchmarkSignUpSSHPostgres(b *testing.B) {
	c := pgtest.Start(b)
	type setup struct {
		name                                string
		signUp                              func(i int) error
		ledgers                             []*postgres.Ledger
		done                                int
		wall                                time.Duration
		self                                time.Duration // this process's CPU
		pg                                  float64       // the cluster's CPU, in % of all cores summed over wall
		box                                 float64       // the machine's, likewise
		rates                               []float64     // each window's sign-ups a second
		held                                time.Duration
		ahead                               time.Duration // running batches ahead of the lock
		reads, readsAhead, commits, updates uint64
	}
	var setups []*setup
	for _, n := range []int{1, 2} {
		signUp, ledgers := signUpServersOn(b, c.NewDatabase(b), n)
		setups = append(setups, &setup{name: map[int]string{1: "one", 2: "two"}[n], signUp: signUp, ledgers: ledgers})
	}
	const windows = 4 // each
	b.ResetTimer()
	for w := range 2 * windows {
		s := setups[(w+w/2)%2] // one, two, two, one, one, two, two, one
		n := b.N / windows
		if w >= 2*windows-2 { // each setup's last window
			n += b.N % windows
		}
		if n == 0 {
			continue
		}
		before := make([]postgres.Stats, len(s.ledgers))
		for i, l := range s.ledgers {
			before[i] = l.Stats()
		}
		m := cpuuse.Start(c.Pid())
		self := cpuuse.Self()
		base := s.done
		_, wall, err := load(n, workers, func(i int) error { return s.signUp(base + i) })
		s.self += cpuuse.Self() - self
		u := m.Stop()
		if err != nil {
			b.Fatal(err)
		}
		s.done += n
		s.wall += wall
		s.pg += u.Tree * wall.Seconds()
		s.box += u.Machine * wall.Seconds()
		s.rates = append(s.rates, float64(n)/wall.Seconds())
		for i, l := range s.ledgers {
			st := l.Stats()
			s.held += st.Held - before[i].Held
			s.reads += st.Reads - before[i].Reads
			s.readsAhead += st.ReadsAhead - before[i].ReadsAhead
			s.ahead += st.Ahead - before[i].Ahead
			s.commits += st.Commits - before[i].Commits
			s.updates += st.Updates - before[i].Updates
		}
	}
	b.StopTimer()
	cores := float64(runtime.NumCPU())
	for _, s := range setups {
		secs := s.wall.Seconds()
		b.ReportMetric(float64(s.done)/secs, s.name+"-signups/s")
		b.ReportMetric(float64(s.self.Microseconds())/float64(s.done), s.name+"-self-cpu-µs/signup")
		// pg is in % of all cores; times the cores, over 100, it is cores.
		b.ReportMetric(s.pg/100*cores*1e6/float64(s.done), s.name+"-pg-cpu-µs/signup")
		b.ReportMetric(s.box/secs, s.name+"-box-cpu%")
		b.ReportMetric(100*float64(s.held)/float64(s.wall), s.name+"-lock-busy%")
		b.ReportMetric(float64(s.reads)/float64(max(s.updates, 1)), s.name+"-reads/update")
		b.ReportMetric(float64(s.readsAhead)/float64(max(s.updates, 1)), s.name+"-reads-ahead/update")
		b.ReportMetric(float64(s.updates)/float64(max(s.commits, 1)), s.name+"-updates/commit")
		b.ReportMetric(float64(s.held)/float64(time.Millisecond)/float64(max(s.commits, 1)), s.name+"-ms-held/commit")
		// A server's writer runs one batch at a time, ahead of the lock
		// and then under it: the share of its time it ran ahead.
		b.ReportMetric(100*float64(s.ahead)/float64(s.wall)/float64(len(s.ledgers)), s.name+"-ahead%")
	}
	one, two := setups[0], setups[1]
	b.ReportMetric(float64(two.done)/two.wall.Seconds()/(float64(one.done)/one.wall.Seconds()), "two/one")
	b.ReportMetric(median(two.rates)/median(one.rates), "two/one-median")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// The harness works: sign-ups spread over two servers on one database,
// each code read from the first server's inbox.
func TestSignUpSSHPostgres(t *testing.T) {
	signUp := signUpServers(t, 2)
	if _, _, err := load(8, 8, signUp); err != nil {
		t.Fatal(err)
	}
}
