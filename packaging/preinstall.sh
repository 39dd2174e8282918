#!/bin/sh
# Before the files are unpacked: the attest user and group, so that
# /etc/attest/config.yaml can belong to the group (it may hold SMTP and
# database passwords). attest.sysusers says the same for systemd-sysusers.
set -e
if ! getent group attest >/dev/null; then
	groupadd --system attest
fi
if ! getent passwd attest >/dev/null; then
	useradd --system --gid attest --home-dir /var/lib/attest --no-create-home \
		--shell /usr/sbin/nologin --comment "attest sign-in server" attest
fi
