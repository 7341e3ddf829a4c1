#!/bin/sh
# spoofguard rpm %postun: 0 (erase) | 1 (upgrade). The deb has its own
# maintainer scripts (deb/). RPM has no purge: the configuration stays
# (as .rpmsave when changed), like every %config file.
set -e

if [ "$1" = 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0
