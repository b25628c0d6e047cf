#!/usr/bin/python3
# A database-like server for examples/boot.lua: it takes a moment to start,
# then tells ned it is ready over NOTIFY_SOCKET (the sd_notify protocol,
# here with nothing but the standard library) and serves until SIGTERM.
import os, signal, socket, sys, time

def notify(msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), os.environ["NOTIFY_SOCKET"])

def stop(*_):
    print("shutting down cleanly", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)  # Ctrl-C reaches the whole terminal group
print("starting", flush=True)
time.sleep(0.3)
notify("READY=1\nSTATUS=serving")
print("accepting connections", flush=True)
while True:
    time.sleep(1)
