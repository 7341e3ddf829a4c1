#!/bin/sh
# spoofguard rpm %preun: 0 (erase) | 1 (upgrade). The deb has its own
# maintainer scripts (deb/).
# On erase: stop the daemon (and the socket unit, if used) and disable
# both. On upgrade nothing happens here: %post restarts the daemon once
# the new files are in place.
set -e

[ "$1" = 0 ] || exit 0
command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	systemctl stop spoofguard.socket spoofguard.service >/dev/null 2>&1 || true
fi
# disable works without a running systemd too: it only removes symlinks.
systemctl disable spoofguard.socket spoofguard.service >/dev/null 2>&1 || true
exit 0
