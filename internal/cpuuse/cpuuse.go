// Package cpuuse reads how much CPU time processes and the whole machine
// have used, from Linux's /proc, so that a benchmark can say whether the
// machine was saturated while it ran and by whom.
package cpuuse

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tick is one clock tick of /proc's counters (USER_HZ, 100 on Linux on
// every architecture Go supports).
const tick = 10 * time.Millisecond

// Self is the CPU time, user and system, this process has used.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine is the CPU time of every core since boot: busy (anything but
// idle and waiting for I/O) and in all.
func Machine() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var all, idle int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 7 || i == 8 { // guest time is counted in user time already
			continue
		}
		all += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(all-idle) * tick, time.Duration(all) * tick, nil
}

// stat is the fields of /proc/PID/stat after the command name.
func stat(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	// The name is in parentheses and may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// field reads a counter of fields (state is fields[0], the stat's third).
func field(fields []string, n int) int64 {
	if n-3 >= len(fields) {
		return 0
	}
	v, _ := strconv.ParseInt(fields[n-3], 10, 64)
	return v
}

// Tree is the CPU time a process and its descendants have used: its own,
// that of the children it has waited for, and that of those still
// running (and theirs). A server that forks a process per connection,
// such as PostgreSQL, is counted whole.
func Tree(pid int) (time.Duration, error) {
	f, err := stat(pid)
	if err != nil {
		return 0, err
	}
	// utime, stime, cutime, cstime are fields 14 to 17.
	ticks := field(f, 14) + field(f, 15) + field(f, 16) + field(f, 17)
	children, err := children(pid)
	if err != nil {
		return 0, err
	}
	d := time.Duration(ticks) * tick
	for _, c := range children {
		t, err := Tree(c)
		if err == nil { // a child that ended meanwhile is in cutime by now, or soon
			d += t
		}
	}
	return d, nil
}

// children lists the running children of pid.
func children(pid int) ([]int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		f, err := stat(n)
		if err != nil {
			continue
		}
		if field(f, 4) == int64(pid) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Waited is how long this process's threads have been ready to run but
// waiting for a core (the kernel's schedstat run-queue time): on a
// machine with more runnable work than cores, the time a request spends
// waiting for its turn rather than working.
func Waited() time.Duration {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	var d time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		d += time.Duration(ns)
	}
	return d
}

// Meter measures, from Start to Stop, what share of the machine's CPU
// this process, a process tree of interest, and the machine as a whole
// used.
type Meter struct {
	pid         int // the tree's root; 0 for none
	start       time.Time
	self, tree  time.Duration
	busy, total time.Duration
	waited      time.Duration
}

// Start starts measuring; tree, if not 0, is a process whose tree is
// measured too (a database server).
func Start(tree int) *Meter {
	m := &Meter{pid: tree, start: time.Now(), self: Self(), waited: Waited()}
	if tree != 0 {
		m.tree, _ = Tree(tree)
	}
	m.busy, m.total, _ = Machine()
	return m
}

// Use is what a Meter measured, each a percentage of every core's time
// over the interval (100 is the whole machine).
type Use struct {
	Self, Tree, Machine float64
	Cores               int
	// Waited is how long this process's threads, together, were ready
	// to run but had no core, as a share of the interval (100: one
	// thread waited all along).
	Waited float64
}

// Stop ends the measure.
func (m *Meter) Stop() Use {
	wall := time.Since(m.start)
	cores := max(len(cpus()), 1)
	var u Use
	u.Cores = cores
	all := float64(wall) * float64(cores)
	u.Self = 100 * float64(Self()-m.self) / all
	u.Waited = 100 * float64(Waited()-m.waited) / float64(wall)
	if m.pid != 0 {
		if t, err := Tree(m.pid); err == nil {
			u.Tree = 100 * float64(t-m.tree) / all
		}
	}
	if busy, total, err := Machine(); err == nil && total > m.total {
		u.Machine = 100 * float64(busy-m.busy) / float64(total-m.total)
	}
	return u
}

// cpus lists the cores /proc/stat counts.
func cpus() []string {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			out = append(out, l)
		}
	}
	return out
}
