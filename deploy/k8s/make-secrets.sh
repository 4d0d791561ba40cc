#!/usr/bin/env bash
# Creates the Secrets the Kubernetes deployment needs and never commits: one
# `instadash-<user>-credentials` per broker user (keys `username`, `password`), which the
# Messaging Topology Operator imports into RabbitMQ (User.spec.importCredentialsSecret) and the
# services mount as AMQP_PASSWORD_FILE; and, with --self-signed-tls, the broker's TLS Secrets.
#
# Usage: deploy/k8s/make-secrets.sh [--from-dir DIR] [--self-signed-tls]
#   --from-dir DIR     take each user's password from DIR/<user> (e.g. deploy/secrets, made by
#                      deploy/make-secrets.sh for Compose) instead of making a random one
#   --self-signed-tls  when missing, make a CA and a server certificate for the cluster's
#                      names and store them as instadash-rabbitmq-tls (tls.crt, tls.key) and
#                      instadash-rabbitmq-ca (ca.crt). For a demo: in production let
#                      cert-manager (or your PKI) issue them; the CA's key is not kept.
#
# Idempotent: an existing Secret is never changed (RabbitMQ imports a password only when it
# creates the user, so a changed Secret would no longer match the broker). To rotate a password,
# change it in RabbitMQ and in the Secret together. Passwords never appear on a command line:
# they go through files in a private temporary directory, removed on exit.
#
# Environment: KUBECTL (default kubectl), INSTADASH_NAMESPACE (default instadash).
set -euo pipefail

USERS=(admin operator simulator tracker alerts trips dashcam monitor)
KUBECTL="${KUBECTL:-kubectl}"
NS="${INSTADASH_NAMESPACE:-instadash}"
CLUSTER=instadash-rabbitmq
from_dir=""
self_signed=false

while (($#)); do
    case "$1" in
    --from-dir)
        [[ $# -ge 2 && -d "$2" ]] || { echo "make-secrets: --from-dir needs a directory" >&2; exit 2; }
        from_dir="$2"
        shift 2
        ;;
    --self-signed-tls)
        self_signed=true
        shift
        ;;
    -h | --help)
        sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "make-secrets: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
done

command -v "$KUBECTL" >/dev/null || { echo "make-secrets: $KUBECTL not found" >&2; exit 1; }

work="$(umask 077 && mktemp -d)"
trap 'rm -rf "$work"' EXIT

exists() { "$KUBECTL" -n "$NS" get secret "$1" >/dev/null 2>&1; }

if ! "$KUBECTL" get namespace "$NS" >/dev/null 2>&1; then
    echo "make-secrets: creating namespace $NS"
    "$KUBECTL" apply -f "$(dirname "$0")/namespace.yaml" >/dev/null
fi

# 24 random bytes as 48 hex digits: 192 bits, and safe inside a URL without escaping (the
# monitor puts its password in the management API URL).
password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

for user in "${USERS[@]}"; do
    name="instadash-$user-credentials"
    if exists "$name"; then
        echo "make-secrets: $name exists, kept"
        continue
    fi
    (umask 077 && printf '%s' "$user" >"$work/username")
    if [[ -n "$from_dir" ]]; then
        [[ -s "$from_dir/$user" ]] || { echo "make-secrets: $from_dir/$user is missing or empty" >&2; exit 1; }
        (umask 077 && tr -d '\r\n' <"$from_dir/$user" >"$work/password")
        source="from $from_dir/$user"
    else
        (umask 077 && password >"$work/password")
        source="random"
    fi
    "$KUBECTL" -n "$NS" create secret generic "$name" \
        --from-file=username="$work/username" --from-file=password="$work/password" >/dev/null
    "$KUBECTL" -n "$NS" label secret "$name" app.kubernetes.io/part-of=instadash >/dev/null
    rm -f "$work/username" "$work/password"
    echo "make-secrets: $name created ($source password)"
done

if $self_signed; then
    if exists "$CLUSTER-tls" && exists "$CLUSTER-ca"; then
        echo "make-secrets: $CLUSTER-tls and $CLUSTER-ca exist, kept"
    else
        command -v openssl >/dev/null || { echo "make-secrets: openssl not found" >&2; exit 1; }
        # The names clients and nodes use: the client Service and each node's stable name
        # under the headless Service the Cluster Operator makes (<cluster>-nodes).
        sans="DNS:$CLUSTER,DNS:$CLUSTER.$NS,DNS:$CLUSTER.$NS.svc,DNS:$CLUSTER.$NS.svc.cluster.local"
        sans+=",DNS:*.$CLUSTER-nodes.$NS,DNS:*.$CLUSTER-nodes.$NS.svc,DNS:*.$CLUSTER-nodes.$NS.svc.cluster.local"
        openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=instadash-rabbitmq-ca" \
            -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
        openssl req -newkey rsa:3072 -nodes -subj "/CN=$CLUSTER.$NS.svc" \
            -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
            "$sans" >"$work/ext.cnf"
        openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
            -days 825 -extfile "$work/ext.cnf" -out "$work/tls.crt" 2>/dev/null
        "$KUBECTL" -n "$NS" delete secret "$CLUSTER-tls" "$CLUSTER-ca" --ignore-not-found >/dev/null
        "$KUBECTL" -n "$NS" create secret tls "$CLUSTER-tls" --cert="$work/tls.crt" --key="$work/tls.key" >/dev/null
        "$KUBECTL" -n "$NS" create secret generic "$CLUSTER-ca" --from-file=ca.crt="$work/ca.crt" >/dev/null
        echo "make-secrets: $CLUSTER-tls and $CLUSTER-ca created (self-signed CA, valid 825 days)"
    fi
fi
