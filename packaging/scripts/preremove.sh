#!/bin/sh
# spoofguard: before the files are removed.
#   deb prerm:  remove | upgrade | deconfigure | failed-upgrade
#   rpm %preun: 0 (erase) | 1 (upgrade)
# On removal: stop the daemon (and the socket unit, if used) and disable
# both. On upgrade nothing happens here: postinstall restarts the daemon
# once the new files are in place.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	systemctl stop spoofguard.socket spoofguard.service >/dev/null 2>&1 || true
fi
# disable works without a running systemd too: it only removes symlinks.
systemctl disable spoofguard.socket spoofguard.service >/dev/null 2>&1 || true
exit 0
