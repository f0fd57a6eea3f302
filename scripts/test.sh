#!/usr/bin/env bash
# Install what the tests need, then run them: the one command a newcomer needs on a fresh
# Debian or Ubuntu machine, and the command CI runs (.ci/run calls this after fmt and clippy).
#
# The tests speak to independent peers over 127.0.0.1, so they need real programs: curl,
# Python's http.client and ssl, openssl s_client (tests/tls.rs), nc and socat (the README
# demos, run by tests/readme.rs), HAProxy and iproute2 (ip netns, ss: tests/cluster.rs,
# tests/tls.rs), util-linux's unshare (tests/readme.rs runs the demos in a private network),
# headless Chromium and its driver (tests/browser.rs), nghttp2's clients (HTTP/2 interop),
# Prometheus and promtool (tests/metrics.rs),
# and the Python packages selenium (drives Chromium), websockets and h2 (independent
# WebSocket and HTTP/2 peers). Anything already installed is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have curl || need+=(curl)
have python3 || need+=(python3 python3-pip)
have openssl || need+=(openssl)
have nc || need+=(netcat-openbsd)
have socat || need+=(socat)
have haproxy || need+=(haproxy)
have ip || need+=(iproute2)
have unshare || need+=(util-linux)
have chromium || need+=(chromium)
have chromedriver || need+=(chromium-driver)
have nghttp || need+=(nghttp2-client)
have promtool || need+=(prometheus)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

py=(selenium websockets h2)
if ! python3 -c 'import selenium, websockets, h2' 2>/dev/null; then
  echo "installing Python packages: ${py[*]}" >&2
  # A Debian python3 refuses pip outside a virtual environment (PEP 668); its own packages
  # (python3-selenium, python3-websockets, python3-h2) are the fallback there.
  python3 -m pip install -q "${py[@]}" 2>/dev/null \
    || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         python3-selenium python3-websockets python3-h2
fi

exec cargo test --profile ci "$@"
