#!/usr/bin/env bash
# Installs what the end-to-end suite drives: Postfix (the real MTA the
# milter is attached to), swaks (the SMTP client) and dkimpy with its
# Authentication-Results module (python3-dkim, python3-authres: the ARC
# sealer of the filter stage, testdata/arcfilter.py). Safe to run again:
# when all are present it only checks the default main.cf and returns.
#
# Nothing may start on its own while packages are unpacked (the suite runs
# private instances, never the system one), so a policy-rc.d that refuses
# every start is put in place for the install, unless one already exists.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: must run as root (installs packages, runs postfix)" >&2
	exit 1
fi

missing=()
command -v postfix >/dev/null 2>&1 || missing+=(postfix)
command -v swaks >/dev/null 2>&1 || missing+=(swaks)
/usr/bin/python3 -c 'import dkim, authres' >/dev/null 2>&1 || missing+=(python3-dkim python3-authres)

if [ "${#missing[@]}" -gt 0 ]; then
	policy=/usr/sbin/policy-rc.d
	ours=no
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		ours=yes
	fi
	cleanup() { if [ "$ours" = yes ]; then rm -f "$policy"; fi; }
	trap cleanup EXIT

	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# With "No configuration" Debian leaves no /etc/postfix/main.cf. The
# suite's private instances have their own, but the postfix tools read the
# default one first (postqueue and postsuper -c DIR consult its
# alternate_config_directories unless they run as root, as the suite does),
# so make sure it exists.
if [ ! -e /etc/postfix/main.cf ]; then
	mkdir -p /etc/postfix
	cat >/etc/postfix/main.cf <<'CF'
# Minimal default configuration written by spoofguard's e2e install.sh.
# The system Postfix is not used; private test instances are.
compatibility_level = 3.6
CF
fi

postconf -h mail_version >/dev/null
echo "install.sh: postfix $(postconf -h mail_version), $(swaks --version 2>&1 | head -1)"
