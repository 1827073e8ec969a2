#!/usr/bin/env bash
# The local three-zone stack (compose.yaml): `compose.sh up` generates the
# secrets once and starts the stack, then waits until the load balancer
# serves a cluster of three ready peers; `compose.sh down [wipe]` stops it,
# keeping the volumes unless told to wipe. The Makefile's compose-up and
# compose-down call it after building the images.
#
# FLOTILLA_STORAGE=s3 (`make compose-up STORAGE=s3`) starts the S3 variant:
# compose.s3.yaml laid over compose.yaml, an S3 server in the stack and the
# nodes' blocks in its shared bucket. `down` always names both files, so
# that it stops either variant (and a stack that was switched between
# them) completely.
set -euo pipefail
cd "$(dirname "$0")"
project=${FLOTILLA_PROJECT:-flotilla}
storage=${FLOTILLA_STORAGE:-flatfs}
secrets=${FLOTILLA_SECRETS:-.local}
flotilla=${FLOTILLA_BIN:-../bin/image/flotilla}
case "$storage" in
flatfs | "") files=(-f compose.yaml) ;;
s3) files=(-f compose.yaml -f compose.s3.yaml) ;;
*)
	echo "FLOTILLA_STORAGE=$storage: want flatfs or s3" >&2
	exit 2
	;;
esac
compose=(docker-compose -p "$project" "${files[@]}")

# secrets writes, once, the cluster secret, the admin password (for the
# user, mode 0600) and the users file holding only its bcrypt hash. The
# directory is 0700: the files the containers read through their bind
# mounts are 0644 so that the containers' uid can, and no other host user
# gets past the directory.
secrets() {
	umask 077
	mkdir -p "$secrets"
	chmod 700 "$secrets"
	if [ ! -s "$secrets/cluster.secret" ]; then
		head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' >"$secrets/cluster.secret"
		echo >>"$secrets/cluster.secret"
	fi
	if [ ! -s "$secrets/admin.credentials" ] || [ ! -s "$secrets/api-users.json" ]; then
		password=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		entry=$(printf '%s\n' "$password" | "$flotilla" auth hash --user admin --scope admin)
		printf '{"users": [%s]}\n' "$entry" >"$secrets/api-users.json"
		printf 'admin:%s\n' "$password" >"$secrets/admin.credentials"
		echo "admin credentials written to $secrets/admin.credentials"
	fi
	chmod 600 "$secrets/admin.credentials"
	chmod 644 "$secrets/cluster.secret" "$secrets/api-users.json"
}

# s3_secrets writes, once, the S3 server's root key: s3.env for the server
# (docker-compose reads it on the host, so it stays 0600) and the same key
# as an AWS shared credentials file for the nodes' SDK (a compose secret,
# bind-mounted, hence 0644 inside the 0700 directory).
s3_secrets() {
	umask 077
	mkdir -p "$secrets"
	chmod 700 "$secrets"
	if [ ! -s "$secrets/s3.env" ] || [ ! -s "$secrets/s3.credentials" ]; then
		local key secret
		key=FLOT$(head -c 10 /dev/urandom | od -An -vtx1 | tr -d ' \n' | tr a-f A-F)
		secret=$(head -c 30 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		printf 'ROOT_ACCESS_KEY_ID=%s\nROOT_SECRET_ACCESS_KEY=%s\n' "$key" "$secret" >"$secrets/s3.env"
		printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key" "$secret" >"$secrets/s3.credentials"
	fi
	chmod 600 "$secrets/s3.env"
	chmod 644 "$secrets/s3.credentials"
}

# wait_ready polls the REST API through the load balancer until it lists
# three peers, every one of them up.
wait_ready() {
	local deadline=$((SECONDS + ${FLOTILLA_READY_TIMEOUT:-180}))
	until "$flotilla" health --api 127.0.0.1:9094 --api-credentials "$secrets/admin.credentials" >/dev/null 2>&1 &&
		[ "$("$flotilla" peers ls --json --api 127.0.0.1:9094 --api-credentials "$secrets/admin.credentials" 2>/dev/null | grep -c '"id"')" -eq 3 ]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "the cluster is not ready after ${FLOTILLA_READY_TIMEOUT:-180}s; logs: (cd deploy && docker-compose -p $project ${files[*]} logs)" >&2
			return 1
		fi
		sleep 0.5 # polling interval
	done
}

case "${1:-}" in
up)
	secrets
	[ "$storage" != s3 ] || s3_secrets
	start=$(date +%s%N)
	# --remove-orphans: after a switch of variant, the other one's S3
	# server does not linger.
	FLOTILLA_SECRETS=$secrets "${compose[@]}" up -d --remove-orphans
	wait_ready
	took=$((($(date +%s%N) - start) / 1000000))
	shown=$secrets
	[[ $shown = /* ]] || shown=deploy/$shown
	printf 'ready in %d.%03d s (blocks: %s): gateway http://127.0.0.1:8080/ipfs/, REST API http://127.0.0.1:9094 (ipfs-cluster-ctl --force-http --basic-auth "$(cat %s/admin.credentials)")\n' \
		$((took / 1000)) $((took % 1000)) "$storage" "$shown"
	;;
down)
	# Both files whatever FLOTILLA_STORAGE says. docker-compose reads
	# compose.s3.yaml's env_file even to stop: where the S3 variant never
	# ran (no s3.env), an empty file in a temporary directory stands in,
	# rather than generating a key nobody uses.
	compose=(docker-compose -p "$project" -f compose.yaml -f compose.s3.yaml)
	stop_secrets=$secrets
	if [ ! -e "$secrets/s3.env" ]; then
		stop_secrets=$(mktemp -d)
		trap 'rm -rf "$stop_secrets"' EXIT
		: >"$stop_secrets/s3.env"
	fi
	if [ "${2:-}" = wipe ]; then
		FLOTILLA_SECRETS=$stop_secrets "${compose[@]}" down --volumes
	else
		FLOTILLA_SECRETS=$stop_secrets "${compose[@]}" down
	fi
	;;
*)
	echo "usage: $0 up | down [wipe]" >&2
	exit 2
	;;
esac
