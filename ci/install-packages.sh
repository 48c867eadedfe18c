#!/usr/bin/env bash
# The Debian packages scenario drives and its tests use. Shared by every CI
# here and by ci/Dockerfile; runs apt-get through sudo when not root.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Installing docker.io or containerd on a machine with an init system
# starts their daemons on the machine itself (a docker0 bridge and rules in
# its own network namespace). Scenarios start their own, in a lab; so,
# where no policy says otherwise (a container image has one), services are
# kept from starting during the install, and the policy removed after it.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scenario: no service starts while its packages install\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends iptables nftables iproute2 util-linux containernetworking-plugins netavark aardvark-dns dnsmasq-base busybox-static udhcpc wget uidmap >/dev/null
# The report's tests: the page rendered in headless Chromium, the captures
# read back by Wireshark's tshark (which asks nothing when noninteractive).
$sudo apt-get install -y -qq --no-install-recommends chromium tshark >/dev/null
# The engines (scenarios/docker, scenarios/podman): Docker's and podman's
# own daemons, run in a lab's host node with files of their own. runc, as
# crun refuses a machine with hybrid cgroups.
$sudo apt-get install -y -qq --no-install-recommends docker.io containerd runc podman conmon >/dev/null
# protoc, for the build script of netavark 2.1 (ci/build-netavark2.sh).
$sudo apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
