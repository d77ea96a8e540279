# tests/lib/dovecot.sh - a private Dovecot 2.3 POP3 server for the tests.
#
# Source this file from bash, then:
#
#   dc_setup                    make a temp dir, certificates, mail user
#   dc_add_user NAME PASSWORD   a passwd-file user with a {PLAIN} password
#   dc_start                    start the servers (always pair with dc_stop,
#                               e.g. trap 'dc_stop' EXIT)
#   dc_add_message USER FILE... put LF-terminated messages into USER's
#                               Maildir new/ (works before or after dc_start)
#   dc_count USER               number of messages USER has on the server
#   dc_ids USER                 their Message-IDs (genmail.py kinds)
#   dc_uid USER N               the UIDL unique-id of message N
#   dc_stop                     stop every Dovecot process we started and
#                               remove the temp dir (unless DC_KEEP=1)
#
# What is set up, all under one temp dir ($DC_DIR), listening on 127.0.0.1
# only:
#   $DC_POP3_PORT    plain POP3, STLS offered
#   $DC_POP3S_PORT   POP3 with implicit TLS
#   $DC_NOSTLS_PORT  plain POP3 of a second Dovecot instance with ssl = no,
#                    so that STLS is not advertised (Dovecot decides about
#                    STLS per instance/IP, not per listener)
#   $DC_CA           CA that signed the server certificate (SAN DNS:localhost
#                    only: connecting to "127.0.0.1" is a host name mismatch)
#   $DC_WRONG_CA     an unrelated CA
#   $DC_LOG          the main instance's log (logins, auth failures)
#   $DC_NOSTLS_LOG   the second instance's log
#
# Dovecot refuses to serve mail as root: as root, mail and Dovecot's
# internal/login processes run as the system user $DC_SYSUSER (created if
# missing); otherwise everything runs as the current user.
#
# Every function returns non-zero and prints "dovecot.sh: ..." on stderr on
# failure; nothing here exits the caller.

DC_SYSUSER=${DC_SYSUSER:-popfetch-test}
# Debian's python3 (what .ci/run installs) when there is one: version
# manager shims on PATH cost a tenth of a second per call.
if [ -z "${PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
DC_DIR=
DC_MSG_SEQ=0

dc_err() {
	printf 'dovecot.sh: %s\n' "$*" >&2
}

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
dc_free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

dc_make_certs() {
	local d=$DC_DIR/certs ext
	mkdir -p "$d" || return 1
	ext=$d/server.ext
	cat >"$ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	local ca
	for ca in ca wrong-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-nodes -days 3650 -keyout "$d/$ca.key" -out "$d/$ca.pem" \
			-subj "/O=popfetch tests/CN=popfetch test $ca" \
			-addext 'basicConstraints = critical, CA:TRUE' \
			-addext 'keyUsage = critical, keyCertSign, cRLSign' \
			>"$d/openssl.log" 2>&1 ||
			{ dc_err "openssl: cannot make $ca"; cat "$d/openssl.log" >&2; return 1; }
	done
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/O=popfetch tests/CN=popfetch test server" \
		>"$d/openssl.log" 2>&1 &&
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 3650 -extfile "$ext" -out "$d/server.pem" \
		>>"$d/openssl.log" 2>&1 ||
		{ dc_err "openssl: cannot make the server certificate"; cat "$d/openssl.log" >&2; return 1; }
	DC_CA=$d/ca.pem
	DC_WRONG_CA=$d/wrong-ca.pem
	chmod 0644 "$d"/*.pem
}

# Decides who owns the mail and runs Dovecot's unprivileged processes.
dc_pick_user() {
	if [ "$(id -u)" -eq 0 ]; then
		# A suite running side by side may create it at the same time:
		# only a user that still does not exist afterwards is an error.
		if ! id -u "$DC_SYSUSER" >/dev/null 2>&1; then
			useradd --system --user-group --no-create-home \
				--home-dir /nonexistent --shell /usr/sbin/nologin \
				"$DC_SYSUSER" 2>/dev/null ||
				id -u "$DC_SYSUSER" >/dev/null 2>&1 ||
				{ dc_err "cannot create system user $DC_SYSUSER"; return 1; }
		fi
		DC_MAIL_USER=$DC_SYSUSER
	else
		DC_MAIL_USER=$(id -un)
	fi
	DC_MAIL_UID=$(id -u "$DC_MAIL_USER") &&
	DC_MAIL_GROUP=$(id -gn "$DC_MAIL_USER") &&
	DC_MAIL_GID=$(id -g "$DC_MAIL_USER")
}

# Gives a path to the mail user (a no-op when we are that user).
dc_chown() {
	[ "$(id -u)" -eq 0 ] || return 0
	chown -R "$DC_MAIL_USER:$DC_MAIL_GROUP" "$@"
}

dc_setup() {
	command -v dovecot >/dev/null ||
		{ dc_err "dovecot is not installed (dovecot-core dovecot-pop3d)"; return 1; }
	dc_pick_user || return 1
	# Dovecot's Unix sockets live under DC_DIR (".../run-nostls/
	# token-login/tokenlogin"), and a socket path holds at most 107
	# bytes: a deep TMPDIR (a test inside a test) falls back to /tmp.
	local base=${TMPDIR:-/tmp}
	[ ${#base} -le 40 ] || base=/tmp
	DC_DIR=$(mktemp -d "$base/popfetch-dovecot.XXXXXX") || return 1
	# The mail user must be able to reach the mail and the passwd file.
	chmod 0755 "$DC_DIR" || return 1
	if [ "$(id -u)" -eq 0 ] &&
		! runuser -u "$DC_MAIL_USER" -- test -x "$DC_DIR" 2>/dev/null; then
		dc_err "$DC_MAIL_USER cannot reach ${TMPDIR:-/tmp}; using /tmp"
		rmdir "$DC_DIR"
		DC_DIR=$(mktemp -d /tmp/popfetch-dovecot.XXXXXX) || return 1
		chmod 0755 "$DC_DIR" || return 1
	fi
	mkdir -p "$DC_DIR/mail" "$DC_DIR/run" "$DC_DIR/run-nostls" \
		"$DC_DIR/state" "$DC_DIR/state-nostls" || return 1
	dc_make_certs || return 1
	DC_PASSWD=$DC_DIR/passwd
	: >"$DC_PASSWD" || return 1
	chmod 0640 "$DC_PASSWD"
	dc_chown "$DC_DIR/mail" "$DC_PASSWD" || return 1
	DC_LOG=$DC_DIR/dovecot.log
	DC_NOSTLS_LOG=$DC_DIR/dovecot-nostls.log
}

dc_maildir() {
	printf '%s/mail/%s\n' "$DC_DIR" "$1"
}

# dc_add_user NAME PASSWORD: the password must not contain ':' or newline.
dc_add_user() {
	local name=$1 pw=$2 md
	case $name$pw in *:*|*$'\n'*)
		dc_err "dc_add_user: ':' or newline in '$name'"; return 1 ;;
	esac
	printf '%s:{PLAIN}%s::::::\n' "$name" "$pw" >>"$DC_PASSWD" || return 1
	md=$(dc_maildir "$name")
	mkdir -p "$md/new" "$md/cur" "$md/tmp" && chmod -R 0700 "$md" &&
		dc_chown "$md"
}

# dc_add_message USER FILE...: Dovecot keeps Maildir messages with LF line
# endings on disk (and sends CRLF); a CRLF in FILE is stored as LF.  Files
# get increasing names so that Dovecot assigns UIDs in argument order.
dc_add_message() {
	local user=$1 md f name
	shift
	md=$(dc_maildir "$user")
	[ -d "$md/new" ] || { dc_err "no user $user"; return 1; }
	for f in "$@"; do
		DC_MSG_SEQ=$((DC_MSG_SEQ + 1))
		name=$((1700000000 + DC_MSG_SEQ)).M0P$$Q$DC_MSG_SEQ.popfetch-test
		"$PYTHON" -c 'import sys
data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
open(sys.argv[2], "xb").write(data)' "$f" "$md/tmp/$name" || return 1
		chmod 0600 "$md/tmp/$name" && dc_chown "$md/tmp/$name" &&
			mv "$md/tmp/$name" "$md/new/$name" || return 1
	done
}

# Prints how many messages USER has on the server (new/ and cur/).
dc_count() {
	local md
	md=$(dc_maildir "$1")
	find "$md/new" "$md/cur" -type f | wc -l
}

# dc_ids USER: the Message-IDs of USER's messages on the server without
# "@popfetch.test" (genmail.py kinds), sorted, on one line.
dc_ids() {
	local md
	md=$(dc_maildir "$1")
	find "$md/new" "$md/cur" -type f -exec grep -h -m 1 '^Message-ID: <' {} + |
		sed 's/^Message-ID: <\(.*\)@popfetch\.test>$/\1/' |
		sort | tr '\n' ' ' | sed 's/ $//'
}

# dc_uid USER N: the UIDL unique-id of message N, for a mailbox that
# Dovecot has opened once and that lost no message yet (its IMAP UIDs are
# then 1..n in dc_add_message order).  pop3_uidl_format is %08Xu%08Xv,
# which Dovecot writes in lower case.
dc_uid() {
	local list
	list=$(dc_maildir "$1")/dovecot-uidlist
	[ -f "$list" ] || { dc_err "no $list yet"; return 1; }
	awk -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++)
			if ($i ~ /^V[0-9]+$/) v = substr($i, 2) }
		NR > 1 && ++k == n { printf "%08x%08x\n", $1, v; exit }' "$list"
}

# dc_write_conf FILE BASE_DIR STATE_DIR LOG SSL LISTENERS
dc_write_conf() {
	local f=$1 base=$2 state=$3 log=$4 ssl=$5 listeners=$6
	cat >"$f" <<EOF
# Private Dovecot for the popfetch tests; generated by tests/lib/dovecot.sh.
protocols = pop3
listen = 127.0.0.1
base_dir = $base
state_dir = $state
instance_name = popfetch-test-$(basename "$DC_DIR")-$(basename "$base")
log_path = $log
info_log_path = $log
debug_log_path = $log
auth_verbose = yes
auth_verbose_passwords = no
auth_failure_delay = 0
# Without this, every failed login (wrong-password tests) makes anvil delay
# the next logins from 127.0.0.1 by 2, 4, 8 then 15 s (auth penalty), which
# slows the suite and can exceed popfetch's timeout.  Trusted clients get
# "[XCLIENT]" in the greeting; popfetch ignores it.
login_trusted_networks = 127.0.0.1/32
verbose_ssl = no
shutdown_clients = yes

default_internal_user = $DC_MAIL_USER
default_internal_group = $DC_MAIL_GROUP
default_login_user = $DC_MAIL_USER
mail_uid = $DC_MAIL_UID
mail_gid = $DC_MAIL_GID
first_valid_uid = $DC_MAIL_UID
last_valid_uid = $DC_MAIL_UID
first_valid_gid = $DC_MAIL_GID
last_valid_gid = $DC_MAIL_GID
mail_location = maildir:$DC_DIR/mail/%n
pop3_uidl_format = %08Xu%08Xv

# {PLAIN} passwords let later tests use every SASL mechanism.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 apop
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $DC_PASSWD
}
userdb {
  driver = passwd-file
  args = username_format=%n $DC_PASSWD
  default_fields = home=$DC_DIR/mail/%n
}

ssl = $ssl
ssl_cert = <$DC_DIR/certs/server.pem
ssl_key = <$DC_DIR/certs/server.key
ssl_min_protocol = TLSv1.2

# Non-root Dovecot cannot chroot; keep the same layout as root for sameness.
service anvil {
  chroot =
}
service pop3-login {
  chroot =
$listeners
}
EOF
}

dc_pid_of() {
	local pidfile=$1/master.pid
	[ -s "$pidfile" ] && cat "$pidfile"
}

# Waits until PORT on 127.0.0.1 accepts connections (5 s at most).
dc_wait_port() {
	"$PYTHON" - "$1" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.monotonic() + 5
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.05)
EOF
}

# dc_start_one CONF BASE_DIR LOG PORT...: 0 started, 2 port collision,
# 1 other failure.
dc_start_one() {
	local conf=$1 base=$2 log=$3 out port
	shift 3
	# Not $(dovecot ...): the daemonized master keeps stdout/stderr open,
	# and a command substitution would wait for them forever.
	if ! dovecot -c "$conf" </dev/null >"$conf.start" 2>&1; then
		out=$(cat "$conf.start")
		case $out$(cat "$log" 2>/dev/null) in
		*"Address already in use"*) return 2 ;;
		esac
		dc_err "dovecot -c $conf failed: $out"
		[ -f "$log" ] && tail -n 20 "$log" >&2
		return 1
	fi
	for port in "$@"; do
		dc_wait_port "$port" || {
			dc_err "dovecot is not listening on 127.0.0.1:$port"
			tail -n 20 "$log" >&2
			return 1
		}
	done
}

dc_start() {
	local try rc
	[ -n "$DC_DIR" ] || { dc_err "dc_setup first"; return 1; }
	for try in 1 2 3 4 5; do
		DC_POP3_PORT=$(dc_free_port) && DC_POP3S_PORT=$(dc_free_port) &&
			DC_NOSTLS_PORT=$(dc_free_port) || return 1
		[ "$DC_POP3_PORT" != "$DC_POP3S_PORT" ] &&
			[ "$DC_POP3_PORT" != "$DC_NOSTLS_PORT" ] &&
			[ "$DC_POP3S_PORT" != "$DC_NOSTLS_PORT" ] || continue
		DC_CONF=$DC_DIR/dovecot.conf
		DC_NOSTLS_CONF=$DC_DIR/dovecot-nostls.conf
		dc_write_conf "$DC_CONF" "$DC_DIR/run" "$DC_DIR/state" "$DC_LOG" yes "\
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DC_POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $DC_POP3S_PORT
    ssl = yes
  }" || return 1
		dc_write_conf "$DC_NOSTLS_CONF" "$DC_DIR/run-nostls" \
			"$DC_DIR/state-nostls" "$DC_NOSTLS_LOG" no "\
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DC_NOSTLS_PORT
  }
  inet_listener pop3s {
    port = 0
  }" || return 1
		dc_start_one "$DC_CONF" "$DC_DIR/run" "$DC_LOG" \
			"$DC_POP3_PORT" "$DC_POP3S_PORT"
		rc=$?
		if [ $rc -eq 0 ]; then
			dc_start_one "$DC_NOSTLS_CONF" "$DC_DIR/run-nostls" \
				"$DC_NOSTLS_LOG" "$DC_NOSTLS_PORT"
			rc=$?
			[ $rc -eq 0 ] && return 0
		fi
		dc_stop_servers
		[ $rc -eq 2 ] || return 1
		dc_err "port collision, retrying with other ports"
	done
	dc_err "no free ports after 5 tries"
	return 1
}

# dc_stop_masters BASE_DIR...: TERM each master (pid file), wait for all,
# then KILL anything left in their sessions (a master is a session leader
# after daemonizing, and its children stay in its session).  Dovecot takes
# a few seconds to shut down, so the masters stop side by side.
dc_stop_masters() {
	local base pid i left pids=() alive
	for base in "$@"; do
		pid=$(dc_pid_of "$base") || continue
		kill -TERM "$pid" 2>/dev/null
		pids+=("$pid")
		rm -f "$base/master.pid"
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	for i in $(seq 100); do
		alive=
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			dc_err "dovecot master $pid did not stop in 10 s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for i in $(seq 50); do
		left=$(ps -e -o pid=,sid= | awk -v s=" ${pids[*]} " \
			'index(s, " " $2 " ") { print $1 }')
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		dc_err "killing leftover dovecot processes:" $left
		kill -KILL $left 2>/dev/null
	fi
}

dc_stop_servers() {
	local bases
	[ -n "$DC_DIR" ] || return 0
	bases=("$DC_DIR/run" "$DC_DIR/run-nostls")
	# The instance of dc_start_clientcert, if one was started.
	[ -d "$DC_DIR/run-clientcert" ] && bases+=("$DC_DIR/run-clientcert")
	dc_stop_masters "${bases[@]}"
}

# Stops everything and removes the temp dir (kept if DC_KEEP=1).  Safe to
# call more than once and before dc_start.
dc_stop() {
	[ -n "$DC_DIR" ] || return 0
	dc_stop_servers
	if [ "${DC_KEEP:-0}" = 1 ]; then
		dc_err "kept $DC_DIR"
	else
		rm -rf "$DC_DIR"
	fi
	DC_DIR=
}

# ---- TLS pins and client certificates (issue 6) -------------------------
#
#   dc_fingerprint [CERT]       the certificate pin of CERT (default: the
#                               server's) as popfetch writes it:
#                               "sha256:" + lowercase hex of SHA-256(DER)
#   dc_pubkey [CERT]            its public key pin, "sha256:" + base64 of
#                               SHA-256(SubjectPublicKeyInfo DER) (HPKP)
#   dc_make_client_certs        (after dc_setup) client certificates:
#     $DC_CLIENT_CA             the CA that the clientcert instance trusts
#     $DC_CLIENT_CERT, $DC_CLIENT_KEY    signed by it
#     $DC_CLIENT_COMBINED       that certificate and key in one file
#     $DC_OTHER_CLIENT_CERT, $DC_OTHER_CLIENT_KEY   signed by $DC_WRONG_CA
#   dc_start_clientcert         (after dc_start) a third instance with the
#                               same users and mail that requires a client
#                               certificate signed by $DC_CLIENT_CA, and
#                               still the password; dc_stop stops it:
#     $DC_CC_PORT               plain POP3, STLS offered
#     $DC_CCS_PORT              POP3 with implicit TLS
#     $DC_CC_LOG                its log
#
# The server certificate is $DC_DIR/certs/server.pem (DNS:localhost,
# signed by $DC_CA) for every instance.

dc_fingerprint() {
	local cert=${1:-$DC_DIR/certs/server.pem} hex
	local -
	set -o pipefail
	hex=$(openssl x509 -in "$cert" -outform der | sha256sum) ||
		{ dc_err "cannot read the certificate $cert"; return 1; }
	printf 'sha256:%s\n' "${hex%% *}"
}

dc_pubkey() {
	local cert=${1:-$DC_DIR/certs/server.pem} b64
	local -
	set -o pipefail
	b64=$(openssl x509 -in "$cert" -pubkey -noout |
		openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64) ||
		{ dc_err "cannot read the certificate $cert"; return 1; }
	printf 'sha256:%s\n' "$b64"
}

dc_make_client_certs() {
	local d=$DC_DIR/certs ext name ca
	[ -n "$DC_DIR" ] || { dc_err "dc_setup first"; return 1; }
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 3650 -keyout "$d/client-ca.key" -out "$d/client-ca.pem" \
		-subj "/O=popfetch tests/CN=popfetch test client-ca" \
		-addext 'basicConstraints = critical, CA:TRUE' \
		-addext 'keyUsage = critical, keyCertSign, cRLSign' \
		>"$d/openssl.log" 2>&1 ||
		{ dc_err "openssl: cannot make client-ca"; cat "$d/openssl.log" >&2; return 1; }
	ext=$d/client.ext
	cat >"$ext" <<'EOT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOT
	for name in client other; do
		ca=client-ca
		[ $name = other ] && ca=wrong-ca
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-nodes -keyout "$d/$name.key" -out "$d/$name.csr" \
			-subj "/O=popfetch tests/CN=popfetch test $name" \
			>"$d/openssl.log" 2>&1 &&
		openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" \
			-CAkey "$d/$ca.key" -CAcreateserial -days 3650 \
			-extfile "$ext" -out "$d/$name.pem" >>"$d/openssl.log" 2>&1 ||
			{ dc_err "openssl: cannot make the $name certificate"; cat "$d/openssl.log" >&2; return 1; }
	done
	cat "$d/client.pem" "$d/client.key" >"$d/client-combined.pem" || return 1
	chmod 0644 "$d/client-ca.pem" "$d/client.pem" "$d/other.pem"
	chmod 0600 "$d/client.key" "$d/other.key" "$d/client-combined.pem"
	DC_CLIENT_CA=$d/client-ca.pem
	DC_CLIENT_CERT=$d/client.pem
	DC_CLIENT_KEY=$d/client.key
	DC_CLIENT_COMBINED=$d/client-combined.pem
	DC_OTHER_CLIENT_CERT=$d/other.pem
	DC_OTHER_CLIENT_KEY=$d/other.key
}

dc_start_clientcert() {
	local try rc
	[ -n "$DC_DIR" ] || { dc_err "dc_setup first"; return 1; }
	if [ -z "${DC_CLIENT_CA:-}" ]; then
		dc_make_client_certs || return 1
	fi
	mkdir -p "$DC_DIR/run-clientcert" "$DC_DIR/state-clientcert" || return 1
	DC_CC_LOG=$DC_DIR/dovecot-clientcert.log
	DC_CC_CONF=$DC_DIR/dovecot-clientcert.conf
	for try in 1 2 3 4 5; do
		DC_CC_PORT=$(dc_free_port) && DC_CCS_PORT=$(dc_free_port) || return 1
		[ "$DC_CC_PORT" != "$DC_CCS_PORT" ] || continue
		dc_write_conf "$DC_CC_CONF" "$DC_DIR/run-clientcert" \
			"$DC_DIR/state-clientcert" "$DC_CC_LOG" yes "\
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DC_CC_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $DC_CCS_PORT
    ssl = yes
  }" || return 1
		# The certificate comes on top of the password (no
		# auth_ssl_username_from_cert).  No CRL for the test CA:
		# without ssl_require_crl = no every certificate would fail.
		cat >>"$DC_CC_CONF" <<EOT

ssl_ca = <$DC_CLIENT_CA
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_require_client_cert = yes
EOT
		dc_start_one "$DC_CC_CONF" "$DC_DIR/run-clientcert" "$DC_CC_LOG" \
			"$DC_CC_PORT" "$DC_CCS_PORT"
		rc=$?
		[ $rc -eq 0 ] && return 0
		dc_stop_masters "$DC_DIR/run-clientcert"
		[ $rc -eq 2 ] || return 1
		dc_err "port collision, retrying with other ports"
	done
	dc_err "no free ports after 5 tries"
	return 1
}
