#!/bin/sh
# spoofguard: after the files are unpacked.
#   deb postinst: configure [previously configured version] | abort-*
#   rpm %post:    1 (install) | 2 (upgrade)
# First install: hand the configuration to the service's group (it is
# 0640 root:spoofguard: readable by the daemon, not writable by it) and
# enable the service. Upgrade: leave owners and modes the administrator
# may have chosen alone, and restart the daemon if it was running.
# systemctl may be missing, or present with systemd not running (chroots,
# containers, image builds): every call is guarded.
set -e

first=no
case "$1" in
configure) [ -n "$2" ] || first=yes ;;
1) first=yes ;;
2) ;;
*) exit 0 ;;
esac

# The user normally exists since preinstall; an install whose preinstall
# was skipped (rpm --noscripts, then scripts run by hand) still gets it.
if ! getent passwd spoofguard >/dev/null 2>&1; then
	echo "spoofguard: the spoofguard user is missing; run the package's preinstall script or create it" >&2
	exit 1
fi

if [ "$first" = yes ]; then
	chown root:spoofguard /etc/spoofguard /etc/spoofguard/spoofguard.toml
	chmod 0750 /etc/spoofguard
	chmod 0640 /etc/spoofguard/spoofguard.toml
	chown spoofguard:spoofguard /var/lib/spoofguard
	chmod 0750 /var/lib/spoofguard
fi

running=no
[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && running=yes

if [ "$running" = yes ]; then
	systemctl daemon-reload || true
fi

if [ "$first" = yes ] && command -v systemctl >/dev/null 2>&1; then
	case "$1" in
	configure)
		# Debian enables and starts services on install; the packaged
		# configuration protects nothing until a domain is added.
		systemctl enable spoofguard.service >/dev/null 2>&1 || true
		if [ "$running" = yes ]; then
			systemctl start spoofguard.service || true
		fi
		;;
	1)
		# RPM distributions decide through presets (disabled on most).
		systemctl preset spoofguard.service >/dev/null 2>&1 || true
		;;
	esac
elif [ "$running" = yes ]; then
	systemctl try-restart spoofguard.service || true
fi
exit 0
