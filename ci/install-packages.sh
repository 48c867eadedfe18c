#!/usr/bin/env bash
# The Debian packages scenario drives and its tests use. Shared by every CI
# here and by ci/Dockerfile; runs apt-get through sudo when not root.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends iptables nftables iproute2 util-linux containernetworking-plugins netavark aardvark-dns dnsmasq-base busybox-static udhcpc wget uidmap >/dev/null
