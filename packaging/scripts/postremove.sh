#!/bin/sh
# spoofguard: after the files are removed.
#   deb postrm:  remove | purge | upgrade | disappear | abort-* | failed-upgrade
#   rpm %postun: 0 (erase) | 1 (upgrade)
# remove/erase: tell systemd the units are gone.
# purge (deb only; rpm has no purge): also delete what the package or the
# service left behind: /var/lib/spoofguard, the configuration directory
# and the Postfix socket directory if it belongs to spoofguard.
# The spoofguard user and group are kept on purge: files outside these
# paths (backups, logs) may still carry its id, and a later account that
# reused the id would silently own them. Remove them by hand with
# "userdel spoofguard" if you are sure.
set -e

case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
	fi
	;;
esac

if [ "$1" = purge ]; then
	rm -rf /var/lib/spoofguard
	for f in /etc/spoofguard/spoofguard.toml.dpkg-old /etc/spoofguard/spoofguard.toml.dpkg-dist \
		/etc/spoofguard/spoofguard.toml.dpkg-new /etc/spoofguard/spoofguard.toml.dpkg-tmp; do
		rm -f "$f"
	done
	rmdir /etc/spoofguard 2>/dev/null || true
	d=/var/spool/postfix/spoofguard
	if [ -d "$d" ] && [ "$(stat -c %U "$d" 2>/dev/null)" = spoofguard ]; then
		rm -rf "$d"
	fi
fi
exit 0
