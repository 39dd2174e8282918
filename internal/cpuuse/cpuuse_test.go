package cpuuse

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// burn spins for d of this process's CPU time.
func burn(d time.Duration) {
	start := Self()
	for x := 0; Self()-start < d; x++ {
		_ = x * x
	}
}

// A tree counts the children it waited for; a meter sees this process
// and the machine busy.
func TestTreeAndMeter(t *testing.T) {
	before, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m := Start(os.Getpid())
	// A child that spins for about 300 ms of CPU, waited for.
	if err := exec.Command("sh", "-c", "i=0; end=$(( $(date +%s%N) + 300000000 )); while [ $(date +%s%N) -lt $end ]; do i=$((i+1)); done").Run(); err != nil {
		t.Fatal(err)
	}
	burn(200 * time.Millisecond)
	u := m.Stop()
	after, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := after - before; got < 300*time.Millisecond {
		t.Errorf("the tree used %v, want at least this process's 200 ms and most of the child's 300 ms", got)
	}
	if u.Self <= 0 || u.Tree < u.Self || u.Machine <= 0 || u.Machine > 100 || u.Cores < 1 {
		t.Errorf("use: %+v", u)
	}
}
