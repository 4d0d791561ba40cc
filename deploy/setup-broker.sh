#!/usr/bin/env bash
# Makes the local RabbitMQ broker ready for Instadash on a Debian machine (run as root):
# installs rabbitmq-server (and curl) if missing, starts the broker if it is not running,
# enables the management and Prometheus plugins if they are not enabled, and waits until both
# AMQP and the management API answer.
#
# Idempotent, and safe to run against a broker others are using: a running broker is never
# stopped, restarted or reconfigured beyond enabling those two plugins (which needs no restart).
#
# Environment: SETUP_BROKER_TIMEOUT  seconds to wait for the broker, then again for the
#                                    management API (default 60)
set -euo pipefail

TIMEOUT="${SETUP_BROKER_TIMEOUT:-60}"
PLUGINS=(rabbitmq_management rabbitmq_prometheus)
API_URL=http://127.0.0.1:15672/api/overview
# The rabbitmq* commands live in /usr/sbin, which a non-login shell may not have on its PATH.
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"

say() { printf '%s\n' "$*"; }
die() {
    printf 'setup-broker: error: %s\n' "$*" >&2
    exit 1
}

# One CLI call, bounded: a wedged node must not hang the script.
cli() { timeout 30 "$@"; }

broker_answers() { cli rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
broker_booted() { cli rabbitmq-diagnostics -q check_running >/dev/null 2>&1; }
api_answers() { curl -fsS -o /dev/null --max-time 5 -u guest:guest "$API_URL" 2>"$1"; }

# Polls "$@" once a second until it succeeds or TIMEOUT seconds have passed.
wait_for() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# --- install ---------------------------------------------------------------------------------
missing=()
if ! command -v rabbitmq-server >/dev/null || ! command -v rabbitmqctl >/dev/null; then
    missing+=(rabbitmq-server)
fi
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]} > 0)); then
    [[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root"
    say "install: apt-get install ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "install: rabbitmq-server and curl already installed"
fi

# --- start -----------------------------------------------------------------------------------
if broker_answers; then
    say "broker: already running"
else
    # No systemd here; the package's init script is only the fallback.
    say "broker: starting (rabbitmq-server -detached) ..."
    if ! rabbitmq-server -detached; then
        say "broker: rabbitmq-server -detached failed, trying: service rabbitmq-server start ..."
        service rabbitmq-server start || die "could not start rabbitmq-server"
    fi
fi

say "broker: waiting up to ${TIMEOUT}s for it to boot ..."
wait_for broker_booted ||
    die "the broker did not finish booting within ${TIMEOUT}s; see /var/log/rabbitmq/ and 'rabbitmq-diagnostics status'"
say "broker: up"

# --- plugins ---------------------------------------------------------------------------------
enabled="$(cli rabbitmq-plugins list -E -m -q 2>/dev/null)" ||
    die "could not list enabled plugins (rabbitmq-plugins list -E -m)"
to_enable=()
for plugin in "${PLUGINS[@]}"; do
    if grep -qx "$plugin" <<<"$enabled"; then
        say "plugins: $plugin already enabled"
    else
        to_enable+=("$plugin")
    fi
done
if ((${#to_enable[@]} > 0)); then
    say "plugins: enabling ${to_enable[*]} ..."
    timeout 120 rabbitmq-plugins enable -q "${to_enable[@]}" >/dev/null ||
        die "rabbitmq-plugins enable ${to_enable[*]} failed"
fi

# --- management API --------------------------------------------------------------------------
curl_err="$(mktemp)"
trap 'rm -f "$curl_err"' EXIT
say "api: waiting up to ${TIMEOUT}s for $API_URL ..."
wait_for api_answers "$curl_err" ||
    die "the management API did not answer within ${TIMEOUT}s: $(cat "$curl_err")"
say "api: answering"

say "ready: amqp://guest:guest@127.0.0.1:5672, management http://127.0.0.1:15672, metrics http://127.0.0.1:15692/metrics"
