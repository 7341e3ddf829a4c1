#!/bin/sh
# Turns a build version (git describe output, or a release number given as
# VERSION=1.2.0) into a package version that dpkg and rpm both order
# correctly: it starts with a digit, has no '-', a build after a tag sorts
# above the tag and a pre-release below it.
#   v1.2.0                    -> 1.2.0
#   v1.2.0-rc1                -> 1.2.0~rc1
#   v1.2.0-5-gabc1234[-dirty] -> 1.2.0+git5.abc1234[.dirty]
#   abc1234[-dirty] (no tag)  -> 0.0.0+git<commits>.abc1234[.dirty]
set -eu
v=${1:-dev}
v=${v#v}
dots() { echo "$1" | tr -- '-' '.'; }
if echo "$v" | grep -Eq '^[0-9]+(\.[0-9]+)+'; then
	base=$(echo "$v" | sed -E 's/^([0-9]+(\.[0-9]+)+).*/\1/')
	rest=${v#"$base"}
	rest=${rest#-}
	if [ -z "$rest" ]; then
		echo "$base"
	elif echo "$rest" | grep -Eq '^[0-9]+-g[0-9a-f]+(-dirty)?$'; then
		n=${rest%%-*}
		echo "$base+git$n.$(dots "${rest#"$n"-g}")"
	else
		echo "$base~$(dots "$rest")"
	fi
else
	n=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	echo "0.0.0+git$n.$(dots "$v")"
fi
