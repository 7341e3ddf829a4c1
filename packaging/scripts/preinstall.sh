#!/bin/sh
# spoofguard: before the files are unpacked.
#   deb preinst: install | upgrade | abort-upgrade
#   rpm %pre:    1 (install) | 2 (upgrade)
# Creates the system group and user first, so that the files unpacked next
# (group-owned by spoofguard) get the right owner from the start.
set -e

case "$1" in
abort-upgrade) exit 0 ;;
esac

if ! getent group spoofguard >/dev/null 2>&1; then
	groupadd --system spoofguard
fi
if ! getent passwd spoofguard >/dev/null 2>&1; then
	shell=/usr/sbin/nologin
	[ -x "$shell" ] || shell=/sbin/nologin
	[ -x "$shell" ] || shell=/bin/false
	useradd --system --gid spoofguard --no-create-home \
		--home-dir /var/lib/spoofguard --shell "$shell" \
		--comment "spoofguard milter" spoofguard
fi
exit 0
