#!/bin/sh
# The ledger in /var/lib/attest and the attest user stay, even on purge:
# the ledger is the only record of every account. Remove them by hand.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
