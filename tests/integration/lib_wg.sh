# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the WireGuard tests share: a flanneld per host with its own key
# file, the public key computed by openssl, and a 10 ms ping that must
# lose nothing. Source after lib.sh (and lib6.sh for IPv6 pings).

keyfile() { echo "$TMP/h$1/wgkey"; }
wg_start() { # id [flags]: flanneld with its own key file
	local id=$1
	shift
	FLANNEL_WRAP="env WIREGUARD_KEY_FILE=$(keyfile "$id")" flannel_start "$id" "$@"
}
# pubkey <id>: the X25519 public key of host id's key file, by openssl.
pubkey() {
	# The PKCS#8 DER header of a raw X25519 private key, then the key.
	{ printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x6e\x04\x22\x04\x20'; base64 -d <"$(keyfile "$1")"; } |
		openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64
}
# net_of <id>: host id's IPv4 subnet address (10.244.5.0).
net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}

replies() { grep -c 'bytes from' "$1" 2>/dev/null || true; }
# ping_start <name> <from> <to> [6]: 300 pings at 10 ms, container to container (IPv6 with 6).
ping_start() {
	local log=$TMP/$1.log dst
	if [ "${4:-}" = 6 ]; then dst=$(container6_ip "$3"); else dst=$(container_ip "$3"); fi
	SPAWN_LOG=$log spawn "$1" "$(container_ns "$2")" stdbuf -oL ping -i 0.01 -c 300 -W 2 -w 90 "$dst"
	wait_until 20 eval '[ "$(replies "$log")" -ge 10 ]' || fail "ping $2 -> $3 did not start: $(tail -n 5 "$log")"
}
# ping_check <name> <what>: the ping lost nothing; "rx/tx" in PING_RESULT.
# Not called in $(...): a fail there would only end the subshell, its
# message captured and lost.
ping_check() {
	local out tx rx missing
	wait_until 100 proc_exited "$1" || fail "ping did not finish"
	out=$(cat "$TMP/$1.log")
	tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ "$rx" = 300 ] || fail "ping $2: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
	# With -w, ping sends until it has 300 replies, so requests still in
	# flight then (a slow guest: RTT over the 10 ms interval) count as
	# transmitted: only a sequence number missing below the highest
	# answered one is a lost packet.
	missing=$(sed -nE 's/.*icmp_seq=([0-9]+) .*/\1/p' <<<"$out" | sort -n |
		awk '{ seen[$1] = 1; if ($1 > max) max = $1 } END { for (i = 1; i < max; i++) if (!(i in seen)) printf "%d ", i }')
	[ -z "$missing" ] || fail "ping replies $2: $rx of $tx; icmp_seq missing: ${missing:0:300}"
	# shellcheck disable=SC2034 # read by the test that sources this
	PING_RESULT="$rx/$tx"
}
