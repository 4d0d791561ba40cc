#!/usr/bin/env bash
# Makes the broker passwords of the Compose deployment: one file per broker user in
# deploy/secrets/<user> (gitignored), a random password each. Idempotent: an existing non-empty
# file is kept, so running it again never changes a password the broker already has; only the
# files' ownership and mode are put right again.
#
# Who may read them. Compose mounts a file secret by bind-mounting the host file, so inside a
# container it has the host file's owner and mode (Compose's uid/gid/mode settings do not apply to
# file secrets). The Instadash image runs as uid/gid 10001, so:
# - run as root (e.g. sudo): each file is mode 0600 and owned by 10001:10001, the containers' user;
#   on the host only root (and uid 10001, which should not exist there) can read it.
# - run as another user (one in the docker group, say): that user cannot give files away, so each
#   file is mode 0644 and the directory deploy/secrets is mode 0700: on the host nobody else can
#   reach the files, while a container, which sees only its own file and not the directory, can
#   read it.
# With rootless Docker or user-namespace remapping, uid 10001 in the container is another uid on
# the host: run this as root with INSTADASH_UID set to that host uid.
#
# Environment: INSTADASH_UID  the containers' uid (default 10001, the image's); its gid is the same.
set -euo pipefail

USERS=(admin operator simulator tracker alerts trips dashcam monitor)
OWNER="${INSTADASH_UID:-10001}"
DIR="$(cd "$(dirname "$0")" && pwd)/secrets"

[[ "$OWNER" =~ ^[0-9]+$ ]] || {
    echo "make-secrets: INSTADASH_UID must be a numeric uid, not '$OWNER'" >&2
    exit 1
}

# 24 random bytes as 48 hex digits: 192 bits, and safe inside a URL without escaping.
password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

umask 077
mkdir -p "$DIR"
chmod 0700 "$DIR"

made=0
for user in "${USERS[@]}"; do
    file="$DIR/$user"
    if [[ -s "$file" ]]; then
        continue
    fi
    # Written beside, then renamed: an interrupted run never leaves a half-written password.
    tmp="$(mktemp "$DIR/.$user.XXXXXX")"
    password >"$tmp"
    mv -f "$tmp" "$file"
    made=$((made + 1))
done

if [[ $(id -u) -eq 0 ]]; then
    for user in "${USERS[@]}"; do
        chown "$OWNER:$OWNER" "$DIR/$user"
        chmod 0600 "$DIR/$user"
    done
    access="mode 0600, owned by $OWNER:$OWNER (the containers' user)"
else
    for user in "${USERS[@]}"; do
        chmod 0644 "$DIR/$user"
    done
    access="mode 0644 inside a mode 0700 directory (run as root to own them by uid $OWNER and make them 0600)"
fi
echo "make-secrets: $made new, $((${#USERS[@]} - made)) kept, in $DIR: $access"
