#!/bin/sh
# The iclc program's skeleton: help, version, unknown commands and flags.
ICLC=${ICLC:-build/iclc}
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

$ICLC --help | grep -q "usage: iclc COMMAND"; check $? "--help prints usage"
$ICLC --version | grep -Eq "^iclc [0-9]+\.[0-9]+\.[0-9]+$"; check $? "--version prints the version"
$ICLC help graph | grep -q "usage: iclc graph"; check $? "help COMMAND prints that command's usage"
$ICLC nosuchcmd 2>/tmp/iclc-cli-$$.err; st=$?
[ $st = 2 ] && grep -q "unknown command 'nosuchcmd'" /tmp/iclc-cli-$$.err; check $? "unknown command: status 2 and a message"
[ "$(wc -l < /tmp/iclc-cli-$$.err)" -le 2 ]; check $? "unknown command: short error"
$ICLC graph --bogus-flag 2>/tmp/iclc-cli-$$.err; st=$?
[ $st = 2 ] && grep -q "unknown flag '--bogus-flag'" /tmp/iclc-cli-$$.err; check $? "unknown flag: status 2 and a message"
$ICLC help nosuch 2>/dev/null; [ $? = 2 ]; check $? "help of an unknown command: status 2"
$ICLC >/dev/null 2>&1; [ $? = 2 ]; check $? "no command: status 2"
rm -f /tmp/iclc-cli-$$.err
echo "1..$n"
exit $fail
