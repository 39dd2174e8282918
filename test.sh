#!/usr/bin/env bash
# The test command: installs what the tests drive (with apt and npm, as
# root or through sudo), then runs every check CI runs. On a machine that
# has everything already it installs nothing. .ci/run is this script.
#
#   ./test.sh                         everything, 10 to 15 minutes on 2 cores
#   ATTEST_FUZZTIME=30s ./test.sh     longer fuzzing
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

# The end-to-end tests drive the real OpenSSH client in tmux, open
# magic links in headless Chromium, and compute TOTP codes with oathtool.
need=()
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Authenticator codes in the end-to-end test come from an RFC 6238
# implementation that is not ours.
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
# The wallet end-to-end test signs with real wallet libraries under Node.js.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The PostgreSQL ledger's tests start a private cluster with Debian's
# initdb and postgres (not on PATH: /usr/lib/postgresql/<version>/bin).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The packaging tests check the systemd unit with systemd-analyze.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# -race and the SQLite baseline (bench/sqlite) build with cgo.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # With recommended packages: that is how Chromium was tested headless
  # here (fonts and the like come as recommendations).
  $sudo apt-get install -y -qq "${need[@]}"
fi

# ethers and @polkadot/keyring, at the versions package-lock.json pins.
if [ ! -d testdata/wallets/node_modules ]; then
  (cd testdata/wallets && npm ci --no-audit --no-fund)
fi

go version
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
# staticcheck found errors swallowed inside ledger transactions once; it
# runs at a pinned version so a new release cannot fail an old commit.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The SQLite baseline the ledger is measured against (bench/sqlite) is a
# module of its own, so that cgo and SQLite stay out of attest's: the
# commands above do not reach it.
(cd bench/sqlite && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... && go test -race ./...)

# The release configuration (deb and rpm included), at a pinned
# goreleaser, like staticcheck.
go run github.com/goreleaser/goreleaser/v2@v2.17.0 check

# Every package's tests.
go test -race ./...
# The flows' scenarios once more, on a ledger in PostgreSQL.
ATTEST_TEST_LEDGER=postgres go test -race ./flows/

# Every fuzz target, a few seconds each, on top of its seed corpus (which
# the tests above already ran). `go test -fuzz` takes one package and one
# target at a time; the targets are found with grep, so new ones run too.
# The README says how to run them for longer.
#
# Go 1.26's fuzz coordinator can end a run with "context deadline exceeded"
# at the -fuzztime boundary without any failing input (golang/go#75804,
# fixed in Go 1.27). A real failure always writes its input under
# testdata/fuzz/, so only a run that wrote one, or failed otherwise, fails.
fuzztime="${ATTEST_FUZZTIME:-3s}"
for file in $(git ls-files '*_test.go' | xargs grep -lE '^func Fuzz[A-Za-z0-9_]*\(' | sort); do
  dir="./$(dirname "$file")"
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz: $target in $dir for $fuzztime"
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir" 2>&1); then
      echo "$out"
      written=$(git status --porcelain --untracked-files=all -- "$dir/testdata/fuzz/$target")
      if [ -n "$written" ] || ! grep -q 'context deadline exceeded' <<<"$out"; then
        exit 1
      fi
      echo "fuzz: $target ended on golang/go#75804 with no failing input; not a failure"
    fi
  done
done

# The timing tests (an address with an account answers as fast as one
# without) do not build under -race, which slows the estimator but not
# argon2id: they run here, without it, one package at a time.
go test -count=1 -p 1 -run 'Timing' ./flows/ ./server/commands/
