# tests/lib/itest.sh - what the integration scripts share: TAP output, one
# sandbox per case, running popfetch, the private Dovecot around them.
#
# Source from bash (after `set -u`), then:
#
#   it_setup                checks $POPFETCH, makes $WORK with out/ ($OUT:
#                           every captured output), gen/ ($GEN: messages)
#                           and cases/, installs the cleanup trap (stops
#                           Dovecot, removes $WORK unless KEEP=1), dc_setup
#   dc_add_user, dc_add_message   (dovecot.sh; users only before it_start)
#   it_start                dc_start, or bail out
#   t_begin NAME            a test; problem TEXT marks it failed; t_end
#                           prints "ok N - NAME" or "not ok" with the
#                           problems and every popfetch run of the test
#                           (command, exit status, head of stdout/stderr)
#   new_case NAME           fresh $C, $CFG, $STATE, $MAIL for one case
#   defaults; account ...   write the config; pf ARGS runs popfetch
#   it_check_passwords      the last test: no password in $ALL_PW appears
#                           in anything captured in $OUT
#   it_finish               prints the plan; returns 1 if a test failed
#
# Every case runs popfetch with its own HOME, state dir and mailboxes, so
# cases do not depend on each other.  Network traffic goes only to
# 127.0.0.1.

lib=${lib:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$lib/dovecot.sh"

# ---- TAP ---------------------------------------------------------------

T=0
NFAIL=0
TNAME=
PROBLEMS=()
CASE_CMDS=()

t_begin() {
	TNAME=$1
	PROBLEMS=()
	CASE_CMDS=()
}

problem() {
	PROBLEMS+=("$*")
}

# diag_file LABEL FILE: the first 12 lines; of a longer file (a trace)
# also the error lines after them and its last 3 lines.
diag_file() {
	local label=$1 f=$2 n
	if [ -s "$f" ]; then
		echo "#     $label:"
		n=$(wc -l <"$f")
		{
			head -n 12 "$f"
			if [ "$n" -gt 12 ]; then
				echo "[... $((n - 12)) more lines; their errors and the last 3:]"
				tail -n +13 "$f" | head -n -3 | grep '^popfetch: ' | head -n 10
				tail -n +13 "$f" | tail -n 3
			fi
		} | cut -c 1-300 | sed 's/^/#       /'
	else
		echo "#     $label: (empty)"
	fi
}

t_end() {
	local p c
	T=$((T + 1))
	if [ ${#PROBLEMS[@]} -eq 0 ]; then
		echo "ok $T - $TNAME"
		return
	fi
	NFAIL=$((NFAIL + 1))
	echo "not ok $T - $TNAME"
	for p in "${PROBLEMS[@]}"; do
		printf '%s\n' "$p" | sed 's/^/# /'
	done
	for c in "${CASE_CMDS[@]}"; do
		echo "#   ran: ${c%%$'\t'*}"
		case $c in *$'\t'*)
			c=${c#*$'\t'}
			diag_file "stdout" "${c%%$'\t'*}"
			diag_file "stderr" "${c#*$'\t'}"
			;;
		esac
	done
}

t_skip() {
	T=$((T + 1))
	echo "ok $T # SKIP $1"
}

bail() {
	echo "Bail out! $*"
	exit 1
}

# ---- setup and teardown ------------------------------------------------

BG_PIDS=()

it_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ "${KEEP:-0}" = 1 ] && DC_KEEP=1
	dc_stop
	if [ "${KEEP:-0}" = 1 ]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

it_setup() {
	if [ -z "${POPFETCH:-}" ] || [ ! -x "${POPFETCH:-}" ]; then
		echo "1..1"
		echo "not ok 1 - POPFETCH (${POPFETCH:-unset}) is not an executable"
		exit 1
	fi
	case $POPFETCH in /*) ;; *) POPFETCH=$PWD/$POPFETCH ;; esac

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/popfetch-it.XXXXXX") || exit 1
	OUT=$WORK/out		# every captured stdout/stderr, grepped at the end
	GEN=$WORK/gen
	mkdir -p "$OUT" "$GEN" "$WORK/cases"
	trap it_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	dc_setup || bail "cannot set up Dovecot"
}

it_start() {
	dc_start || bail "cannot start Dovecot"
}

# The last test of a script: the passwords in ALL_PW appear nowhere in
# what the script captured (stdout, stderr, traces, MDA output in $OUT).
it_check_passwords() {
	local leaks
	t_begin "no password appears in any output of the whole suite"
	new_case passwords
	leaks=$(grep -rlF "${ALL_PW[@]/#/-e}" "$OUT" 2>/dev/null)
	[ -z "$leaks" ] || problem "password found in: $leaks"
	t_end
}

it_finish() {
	echo "1..$T"
	[ "$NFAIL" -eq 0 ]
}

# ---- helpers for cases -------------------------------------------------

# new_case NAME: a fresh HOME, config path, state dir and Maildir root.
new_case() {
	CASE=$1
	C=$WORK/cases/$1
	mkdir -p "$C/home"
	CFG=$C/popfetch.ini
	STATE=$C/state
	MAIL=$C/Mail
	NRUN=0
	LAST_OUT=
	LAST_ERR=
}

# The [defaults] section most cases start with.
defaults() {
	cat <<EOF
[defaults]
timeout = 10
state_dir = $STATE
ca_file = $DC_CA

EOF
}

# account NAME USER PASSWORD TLS [KEY=VALUE...]: one account section with
# host localhost and the port that goes with TLS, delivering into
# $MAIL/NAME unless a maildir=, mbox= or mda= is among the KEY=VALUEs.
account() {
	local name=$1 user=$2 pw=$3 tls=$4 port kv dlv=
	shift 4
	case $tls in
	implicit) port=$DC_POP3S_PORT ;;
	*) port=$DC_POP3_PORT ;;
	esac
	for kv in "$@"; do
		case $kv in maildir=* | mbox=* | mda=*) dlv=1 ;; esac
	done
	echo "[$name]"
	echo "host = localhost"
	echo "port = $port"
	echo "tls = $tls"
	echo "user = $user"
	echo "password = \"$pw\""
	[ -z "$dlv" ] && echo "maildir = $MAIL/$name"
	[ "$tls" = none ] && echo "allow_plaintext = yes"
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}"
	done
	echo
}

# pf ARGS...: runs popfetch in the case's HOME; sets RC, LAST_OUT, LAST_ERR.
# PF_ENV holds extra VAR=VALUE for its environment, PF_PREFIX a command
# that runs it (e.g. sh -c 'ulimit -f 20; exec "$@"' sh).
PF_ENV=()
PF_PREFIX=()

# The command itself, with stdout/stderr already redirected by the caller.
_pf_exec() {
	cd "$C" && exec env -u XDG_CONFIG_HOME -u XDG_STATE_HOME \
		-u XDG_DATA_HOME HOME="$C/home" "${PF_ENV[@]}" \
		timeout -k 5 60 "${PF_PREFIX[@]}" "$POPFETCH" "$@"
}

# _pf_done RC OUT ERR T0 CMD: the bookkeeping after a run.
_pf_done() {
	RC=$1
	LAST_OUT=$2
	LAST_ERR=$3
	CASE_CMDS+=("$5 => exit $RC"$'\t'"$LAST_OUT"$'\t'"$LAST_ERR")
	# 137 is also popfetch killing itself (POPFETCH_CRASH_AT).
	if [ "$RC" -eq 124 ] || { [ "$RC" -eq 137 ] && [ $((SECONDS - $4)) -ge 60 ]; }; then
		problem "popfetch timed out (60 s)"
	fi
	# Sanitizer reports are always a failure, whatever the exit status.
	if grep -qE '^(==[0-9]+==ERROR: |SUMMARY: (Address|Undefined|Leak)Sanitizer|.*runtime error: )' "$LAST_ERR"; then
		problem "sanitizer report on stderr"
	fi
}

pf() {
	local t0=$SECONDS rc
	NRUN=$((NRUN + 1))
	# The braces keep bash's "Killed" notice (a crash test) off stderr.
	{ (_pf_exec "$@") >"$OUT/$CASE.$NRUN.out" 2>"$OUT/$CASE.$NRUN.err" </dev/null; } 2>/dev/null
	rc=$?
	_pf_done "$rc" "$OUT/$CASE.$NRUN.out" "$OUT/$CASE.$NRUN.err" "$t0" \
		"${PF_ENV[*]}${PF_ENV[*]:+ }popfetch $*"
}

# pf_bg ARGS...: like pf, in the background; pf_bg_wait waits for it and
# then sets RC, LAST_OUT, LAST_ERR.  One at a time; pf may run meanwhile.
# PF_BG_ERR is its stderr file, to watch while it runs.
pf_bg() {
	NRUN=$((NRUN + 1))
	PF_BG_OUT=$OUT/$CASE.$NRUN.out
	PF_BG_ERR=$OUT/$CASE.$NRUN.err
	PF_BG_T0=$SECONDS
	PF_BG_CMD="${PF_ENV[*]}${PF_ENV[*]:+ }popfetch $* (in the background)"
	{ (_pf_exec "$@") >"$PF_BG_OUT" 2>"$PF_BG_ERR" </dev/null & } 2>/dev/null
	PF_BG_PID=$!
	BG_PIDS+=("$PF_BG_PID")
}

pf_bg_wait() {
	local rc
	{ wait "$PF_BG_PID"; } 2>/dev/null
	rc=$?
	_pf_done "$rc" "$PF_BG_OUT" "$PF_BG_ERR" "$PF_BG_T0" "$PF_BG_CMD"
}

expect_rc() {
	[ "$RC" = "$1" ] || problem "exit status $RC, expected $1${2:+ ($2)}"
}

expect_quiet() {
	[ -s "$LAST_OUT" ] && problem "stdout is not empty"
	[ -s "$LAST_ERR" ] && problem "stderr is not empty"
}

expect_no_stdout() {
	[ -s "$LAST_OUT" ] && problem "stdout is not empty"
}

# expect_err ERE WHAT: some stderr line matches ERE (case-insensitive).
expect_err() {
	grep -Eqi -- "$1" "$LAST_ERR" || problem "stderr does not $2"
}

# expect_err_line ACCOUNT: the error is one line "popfetch: ACCOUNT: ...".
expect_err_line() {
	local n
	n=$(wc -l <"$LAST_ERR")
	grep -q "^popfetch: $1: " "$LAST_ERR" ||
		problem "stderr has no line 'popfetch: $1: ...'"
	[ "$n" -eq 1 ] || problem "stderr has $n lines, expected one error line"
}

# delivered DIR: prints how many messages DIR holds (0 if it does not exist).
delivered() {
	local n=0 d
	for d in "$1/new" "$1/cur"; do
		[ -d "$d" ] && n=$((n + $(find "$d" -type f | wc -l)))
	done
	echo "$n"
}

expect_delivered() {
	local n
	n=$(delivered "$1")
	[ "$n" -eq "$2" ] || problem "$1 holds $n messages, expected $2"
}

# expect_mail [--received HOST:USER] MAILDIR SOURCE...
expect_mail() {
	local out
	out=$("$PYTHON" "$lib/mailcmp.py" "$@" 2>&1) ||
		problem "Maildir is not byte-exact:
$(printf '%s\n' "$out" | sed 's/^# //' | head -n 20)"
}

# Snapshot of a Maildir: names and checksums of every file.
maildir_snapshot() {
	(cd "$1" 2>/dev/null && find . -type f -print0 | sort -z |
		xargs -0 -r sha256sum)
}

log_lines() {
	wc -l <"$1"
}

# Dovecot writes its log through a log process: give it a moment.
log_settle() {
	sleep 0.3
}
