#!/bin/sh
# spoofguard rpm %post: 1 (install) | 2 (upgrade). The deb has its own
# maintainer scripts (deb/), built on deb-systemd-helper.
# First install: hand the configuration to the service's group (it is
# 0640 root:spoofguard: readable by the daemon, not writable by it) and
# let the distribution's presets decide whether the service is enabled.
# Upgrade: leave owners and modes the administrator may have chosen alone,
# and restart the daemon if it was running.
# systemctl may be missing, or present with systemd not running (chroots,
# containers, image builds): every call is guarded.
set -e

case "$1" in
1 | 2) ;;
*) exit 0 ;;
esac

# The user normally exists since %pre; an install whose %pre was skipped
# (rpm --noscripts, then scripts run by hand) still gets it.
if ! getent passwd spoofguard >/dev/null 2>&1; then
	echo "spoofguard: the spoofguard user is missing; run the package's preinstall script or create it" >&2
	exit 1
fi

if [ "$1" = 1 ]; then
	chown root:spoofguard /etc/spoofguard /etc/spoofguard/spoofguard.toml
	chmod 0750 /etc/spoofguard
	chmod 0640 /etc/spoofguard/spoofguard.toml
	chown spoofguard:spoofguard /var/lib/spoofguard
	chmod 0750 /var/lib/spoofguard
fi

command -v systemctl >/dev/null 2>&1 || exit 0
running=no
[ -d /run/systemd/system ] && running=yes
[ "$running" = yes ] && { systemctl daemon-reload || true; }
if [ "$1" = 1 ]; then
	# RPM distributions decide through presets (disabled on most).
	systemctl preset spoofguard.service >/dev/null 2>&1 || true
elif [ "$running" = yes ]; then
	systemctl try-restart spoofguard.service || true
fi
exit 0
