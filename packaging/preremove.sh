#!/bin/sh
# On removal (not on upgrade) stop and disable the service. dpkg says
# "remove"; rpm gives the number of versions left, 0 on erase.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now attest.service >/dev/null 2>&1 || true
	fi
	;;
esac
