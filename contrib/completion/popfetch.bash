# bash completion for popfetch(1)                          -*- shell-script -*-
#
# Completes popfetch's options, the values of --color, file names after
# -c/--config, --json and --log-file, and account names (the section names
# of the configuration file, except [defaults]) as arguments and after
# --serverinfo.  The accounts come from the file given with -c/--config on
# the command line being completed, else from the default one,
# $XDG_CONFIG_HOME/popfetch/popfetch.ini or ~/.config/popfetch/popfetch.ini.
#
# Install: copy it to /usr/share/bash-completion/completions/popfetch (for
# everyone, with the bash-completion package) or to
# ~/.local/share/bash-completion/completions/popfetch, or source it from
# ~/.bashrc.  Needs bash 4.

# _popfetch_accounts FILE: the account names of a configuration file, one
# per line, in file order: iniparser takes "[ Name ]" as section "name"
# (trimmed, lowercased), and only a line that is nothing but [...] after
# trimming.
_popfetch_accounts()
{
	[[ -r $1 && ! -d $1 ]] || return 0
	awk '{
		sub(/\r$/, ""); sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "")
		if ($0 !~ /^\[.*\]$/)
			next
		name = substr($0, 2); sub(/\].*/, "", name)
		gsub(/^[ \t]+|[ \t]+$/, "", name); name = tolower(name)
		if (name != "" && name != "defaults" && !seen[name]++)
			print name
	}' "$1" 2>/dev/null
}

# _popfetch_config: the configuration file the command line being completed
# names (the last -c/--config before the cursor), else the default one.
_popfetch_config()
{
	local i w cfg=
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--)
			break
			;;
		--config)
			# "--config=FILE" comes as "--config" "=" "FILE" when "=" is
			# in COMP_WORDBREAKS (the default).
			[[ ${COMP_WORDS[i + 1]-} == = ]] && ((i++))
			((i + 1 < COMP_CWORD)) && cfg=${COMP_WORDS[i + 1]}
			((i++))
			;;
		--config=*)
			cfg=${w#--config=}
			;;
		-j | --jobs | --serverinfo | --json | --log-file)
			((i++))	# their argument is no option
			;;
		--*) ;;
		-*)
			# Short options cluster: -kc FILE, -vcFILE.  -j takes the
			# rest of its word.
			if [[ $w =~ ^-[kvqhV]*c(.*)$ ]]; then
				if [[ -n ${BASH_REMATCH[1]} ]]; then
					cfg=${BASH_REMATCH[1]}
				else
					((i + 1 < COMP_CWORD)) && cfg=${COMP_WORDS[i + 1]}
					((i++))
				fi
			elif [[ $w =~ ^-[kvqhV]*j$ ]]; then
				((i++))
			fi
			;;
		esac
	done
	# The word as typed: drop quotes and backslashes, expand a leading ~/.
	cfg=${cfg//\\/}
	cfg=${cfg//\"/}
	cfg=${cfg//\'/}
	# shellcheck disable=SC2088 # a literal "~/" to be replaced
	[[ $cfg == '~/'* ]] && cfg=$HOME/${cfg#'~/'}
	if [[ -z $cfg ]]; then
		if [[ ${XDG_CONFIG_HOME-} == /* ]]; then
			cfg=$XDG_CONFIG_HOME/popfetch/popfetch.ini
		else
			cfg=${HOME-}/.config/popfetch/popfetch.ini
		fi
	fi
	printf '%s\n' "$cfg"
}

# _popfetch_reply PREFIX CUR WORD...: the WORDs that start with CUR, each
# with PREFIX in front (for "--color=a" when "=" is not a word break).
_popfetch_reply()
{
	local prefix=$1 cur=$2 w
	shift 2
	for w in "$@"; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("$prefix$w")
	done
}

_popfetch_files()
{
	compopt -o filenames 2>/dev/null
	local IFS=$'\n'
	# shellcheck disable=SC2207 # one name per line, IFS is a newline
	COMPREPLY+=($(compgen -f -- "$1"))
}

_popfetch()
{
	local cur prev opt='' prefix='' i w
	local -a accounts used
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# Which option's argument is this word, if any?
	if [[ $cur == = && $prev == --* ]]; then
		opt=$prev= cur=
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}=
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*}= prefix=$opt cur=${cur#*=}
	else
		case $prev in
		-c | --config | -j | --jobs | --serverinfo | --json | --log-file)
			opt=$prev
			;;
		-*c | -*j)
			[[ $prev =~ ^-[kvqhV]*[cj]$ ]] && opt=-${prev: -1}
			;;
		esac
		# After "--" every word is an account.
		for ((i = 1; i < COMP_CWORD; i++)); do
			[[ ${COMP_WORDS[i]} == -- ]] && opt=
		done
	fi

	case $opt in
	-c | --config | --config= | --log-file | --log-file=)
		_popfetch_files "$cur"
		return 0
		;;
	--json | --json=)
		_popfetch_reply "$prefix" "$cur" -
		_popfetch_files "$cur"
		return 0
		;;
	--color=)
		_popfetch_reply "$prefix" "$cur" auto always never
		return 0
		;;
	-j | --jobs | --jobs=)
		return 0	# a number
		;;
	--serverinfo | --serverinfo=)
		mapfile -t accounts < <(_popfetch_accounts "$(_popfetch_config)")
		_popfetch_reply "$prefix" "$cur" "${accounts[@]}"
		return 0
		;;
	esac

	if [[ $cur == -* ]] && ! [[ " ${COMP_WORDS[*]:1:COMP_CWORD-1} " == *" -- "* ]]; then
		_popfetch_reply "" "$cur" -c --config -j --jobs -k --keep \
			-v --verbose -q --quiet --trace --check --dry-run \
			--serverinfo --color= --syslog --json --log-file \
			-h --help -V --version
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] &&
			compopt -o nospace 2>/dev/null
		return 0
	fi

	# An account; those already on the line are not offered again.
	mapfile -t accounts < <(_popfetch_accounts "$(_popfetch_config)")
	used=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	for w in "${accounts[@]}"; do
		[[ " ${used[*]} " == *" $w "* ]] && continue
		[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
	return 0
}

complete -F _popfetch popfetch
