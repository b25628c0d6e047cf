#!/bin/sh
# A worker for examples/boot.lua: works until SIGTERM. With an argument it
# crashes (exit 1) after that many seconds, so the supervisor restarts it.
trap 'echo "stopping"; exit 0' TERM
echo "working"
if [ -n "$1" ]; then
	sleep "$1"
	echo "crashing"
	exit 1
fi
while :; do sleep 1 & wait $!; done
