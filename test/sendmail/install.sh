#!/usr/bin/env bash
# Installs the Sendmail that the end-to-end suite runs beside Postfix.
#
# Debian's sendmail-bin conflicts with the postfix package (both provide
# mail-transport-agent), so it is never installed: its packages are
# downloaded and unpacked into a private tree, $SENDMAIL_ROOT (default
# /opt/spoofguard-e2e/sendmail), and the suite runs the binary from there
# with a private sendmail.cf built from the m4 macros of sendmail-cf. The
# libraries sendmail-bin links against, and m4, do not conflict and are
# installed normally. Safe to run again: an unpacked tree of the same
# version is kept.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "sendmail/install.sh: must run as root (installs packages)" >&2
	exit 1
fi

root=${SENDMAIL_ROOT:-/opt/spoofguard-e2e/sendmail}
stamp=$root/.unpacked

export DEBIAN_FRONTEND=noninteractive
updated=no
update() {
	if [ "$updated" = no ]; then
		apt-get update -qq
		updated=yes
	fi
}

# The run-time libraries of sendmail-bin (see: apt-cache depends
# sendmail-bin) and m4 for building sendmail.cf; none of them conflicts.
needs=(m4 liblockfile1 libwrap0 libdb5.3 libldap-2.5-0 libnsl2 libsasl2-2 libssl3)
missing=()
for p in "${needs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	update
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

want=$(apt-cache policy sendmail-bin | awk '/Candidate:/ {print $2}')
if [ -z "$want" ] || [ "$want" = "(none)" ]; then
	update
	want=$(apt-cache policy sendmail-bin | awk '/Candidate:/ {print $2}')
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt's sandbox user must be able to write the download folder.
	chmod 0755 "$tmp"
	(cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf 2>/dev/null) ||
		(update && cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf)
	rm -rf "$root"
	mkdir -p "$root"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$root"
	done
	echo "$want" >"$stamp"
fi

# The version line. With -C/dev/null sendmail exits 72 after printing it
# (no configuration), which is expected here.
out=$("$root/usr/libexec/sendmail/sendmail" -d0.1 -bt -C/dev/null </dev/null 2>&1 || true)
version=${out%%$'\n'*}
case $version in
Version\ 8.*) ;;
*) echo "sendmail/install.sh: $root/usr/libexec/sendmail/sendmail does not run: $out" >&2; exit 1 ;;
esac
test -f "$root/usr/share/sendmail/cf/m4/cf.m4"
echo "sendmail/install.sh: sendmail $version in $root"
