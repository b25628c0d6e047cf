"""ned_client: a client of ned's object protocol in one file of standard
Python (3.9+). Copy it next to your program; docs/protocol.md is the wire
format it speaks, docs/python-client.md shows how to use it.

    import ned_client as ned
    caps = ned.Caps.from_env()            # LISTEN_FDS / LISTEN_FDNAMES
    ns = caps.object("ns")                # a served cap: namespace, factory...
    ds = ns.query("config")               # -> Got(fd, kind, rights)
    mem = caps.object("mem").create(ned.Proto.DATASPACE, 4096)

    def create(peer, proto, args, fds):   # serve a channel (a driver)
        ...
        return ned.Made(fd, ned.Kind.DATASPACE, ned.Rights.RW)
    ned.serve(caps.take("svr"), create)

Errors of the service raise ned.Error with .status (-errno) and .msg.
"""

import array
import os
import select
import socket
import struct

__all__ = ["Caps", "Object", "Got", "Made", "Peer", "Error", "Proto", "Kind",
           "Rights", "Op", "label_of", "encode", "decode", "serve"]

VERSION = 1
REPLY = 0x8000
HEADER = struct.Struct("<HHIiHHI")  # version, op, id, status, nfds, reserved, len
MAX_MESSAGE = 65536
MAX_FDS = 16


class Op:
    TYPE, QUERY, REGISTER, CREATE, NAMES = 1, 2, 3, 4, 5


class Proto:
    DATASPACE, NAMESPACE, FACTORY, LOG, SCHEDULER = 0x4000, 0x4001, -15, -13, -14
    SEMAPHORE, IRQ, CHANNEL = -20, -18, 0


class Kind:
    CHANNEL, NAMESPACE, FACTORY, DATASPACE, LOG, SCHEDULER = 1, 2, 3, 4, 5, 6
    SEMAPHORE, IRQ, DIRECTORY, FILE, RM, PARENT, SOCKET = 7, 8, 9, 10, 11, 12, 13


class Rights:
    W, S, R, D, N, C = 1, 2, 4, 8, 16, 32
    RW = R | W
    RWS = R | W | S


class Error(Exception):
    """An error reply (status is -errno) or a malformed reply (EPROTO)."""

    def __init__(self, status, msg):
        super().__init__("%s (%d)" % (msg, status))
        self.status, self.msg = status, msg


class Cap:
    """A cap value in a message: index into the message's fds, kind, rights."""

    def __init__(self, fd, kind, rights):
        self.fd, self.kind, self.rights = fd, kind, rights

    def __eq__(self, other):
        return isinstance(other, Cap) and (self.fd, self.kind, self.rights) == (
            other.fd, other.kind, other.rights)

    def __repr__(self):
        return "Cap(%d, %d, 0x%x)" % (self.fd, self.kind, self.rights)


def encode(op, mid, status, values):
    """One message: values are None, int, bytes/str, or Cap."""
    out = bytearray()
    for v in values:
        if v is None:
            out += b"\0"
        elif isinstance(v, bool) or not isinstance(v, (int, bytes, str, Cap)):
            raise TypeError("cannot encode %r" % (v,))
        elif isinstance(v, int):
            out += b"\1" + struct.pack("<q", v)
        elif isinstance(v, Cap):
            out += b"\3" + struct.pack("<HHI", v.fd, v.kind, v.rights)
        else:
            b = v.encode() if isinstance(v, str) else v
            out += b"\2" + struct.pack("<I", len(b)) + b
    nfds = sum(1 for v in values if isinstance(v, Cap))
    return HEADER.pack(VERSION, op, mid, status, nfds, 0, len(out)) + bytes(out)


def decode(data):
    """(op, id, status, nfds, values); raises Error(-71) when malformed."""
    def bad(why):
        return Error(-71, "malformed message: " + why)
    if len(data) < HEADER.size:
        raise bad("shorter than the header")
    version, op, mid, status, nfds, reserved, n = HEADER.unpack_from(data)
    if version != VERSION:
        raise Error(-93, "protocol version %d is not supported" % version)
    if reserved != 0:
        raise bad("reserved bytes are not zero")
    if n != len(data) - HEADER.size:
        raise bad("length says %d, message has %d" % (n, len(data) - HEADER.size))
    values, i = [], HEADER.size
    while i < len(data):
        tag = data[i]
        i += 1
        need = {0: 0, 1: 8, 2: 4, 3: 8}.get(tag)
        if need is None:
            raise bad("unknown tag %d" % tag)
        if i + need > len(data):
            raise bad("value cut short")
        if tag == 0:
            values.append(None)
        elif tag == 1:
            values.append(struct.unpack_from("<q", data, i)[0])
        elif tag == 3:
            values.append(Cap(*struct.unpack_from("<HHI", data, i)))
        else:
            (ln,) = struct.unpack_from("<I", data, i)
            if i + 4 + ln > len(data):
                raise bad("string cut short")
            values.append(bytes(data[i + 4:i + 4 + ln]))
            need += ln
        i += need
    caps = sorted(v.fd for v in values if isinstance(v, Cap))
    if caps != list(range(nfds)):
        raise bad("fds and cap values do not match")
    return op, mid, status, nfds, values


def send(sock, data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], anc)


def recv(sock):
    """(bytes, fds) of one message; bytes is b"" at end of file."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS,
                                               socket.MSG_CMSG_CLOEXEC)
    return data, fds


class Got:
    """A cap received in a reply: its fd (yours to close), kind and rights."""

    def __init__(self, fd, kind, rights):
        self.fd, self.kind, self.rights = fd, kind, rights

    def object(self):
        """The cap as an Object, to make requests on (a served kind)."""
        return Object(self.fd)


class Object:
    """A connection to a served object: namespace, factory, scheduler..."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.next_id = 1

    def fileno(self):
        return self.sock.fileno()

    def call(self, op, values=(), fds=()):
        mid = self.next_id
        self.next_id += 1
        send(self.sock, encode(op, mid, 0, values), fds)
        while True:
            data, got = recv(self.sock)
            if not data:
                raise Error(-32, "ned closed the connection")
            try:
                rop, rid, status, _, vals = decode(data)
            except Error:
                for fd in got:
                    os.close(fd)
                raise
            if rid != mid or rop != op | REPLY:
                for fd in got:
                    os.close(fd)
                continue
            if status != 0:
                for fd in got:
                    os.close(fd)
                msg = vals[0].decode("utf-8", "replace") if vals and isinstance(vals[0], bytes) else ""
                raise Error(status, msg)
            return vals, got

    def type(self):
        """(kind name, rights, extra values)."""
        vals, fds = self.call(Op.TYPE)
        for fd in fds:
            os.close(fd)
        return vals[0].decode(), vals[1], vals[2:]

    def query(self, name, rights=Rights.R, wait_ms=None):
        args = [name, rights] + ([] if wait_ms is None else [wait_ms])
        return _one_cap(*self.call(Op.QUERY, args))

    def register(self, name, fd=None, kind=Kind.DATASPACE, rights=Rights.R):
        """Registers the object behind fd (None unlinks)."""
        if fd is None:
            self.call(Op.REGISTER, [name, None])
        else:
            self.call(Op.REGISTER, [name, Cap(0, kind, rights)], [fd])

    def names(self):
        vals, _ = self.call(Op.NAMES)
        return [v.decode() for v in vals]

    def create(self, proto, *args):
        return _one_cap(*self.call(Op.CREATE, [proto] + list(args)))


def _one_cap(vals, fds):
    caps = [v for v in vals if isinstance(v, Cap)]
    if len(caps) != 1 or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise Error(-71, "expected one cap in the reply")
    return Got(fds[0], caps[0].kind, caps[0].rights)


class Caps:
    """The caps ned granted: fds 3.. named by LISTEN_FDNAMES (spec §10)."""

    def __init__(self, fds):
        self.fds = fds

    @classmethod
    def from_env(cls, environ=os.environ):
        if environ.get("LISTEN_PID") != str(os.getpid()):
            return cls({})
        n = int(environ.get("LISTEN_FDS", "0"))
        names = environ.get("LISTEN_FDNAMES", "").split(":") if n else []
        if len(names) != n:
            raise Error(-22, "LISTEN_FDNAMES names %d fds, LISTEN_FDS says %d" % (len(names), n))
        return cls({name: 3 + i for i, name in enumerate(names)})

    def names(self):
        return sorted(self.fds)

    def take(self, name):
        """The fd of cap `name` (KeyError if not granted)."""
        return self.fds.pop(name)

    def object(self, name):
        return Object(self.take(name))


def label_of(conn):
    """(rights, cap name) that ned labelled an accepted connection with
    (docs/protocol.md, "Labels"), or None for an unlabelled peer."""
    try:
        peer = conn.getpeername()
    except OSError:
        return None
    if not isinstance(peer, str) or not peer:
        return None
    last = peer.rsplit("/", 1)[-1]
    if not last.startswith("ned1."):
        return None
    hexpart, dot, name = last[5:].partition(".")
    if not dot or not 1 <= len(hexpart) <= 8:
        return None
    try:
        return int(hexpart, 16), name
    except ValueError:
        return None


class Peer:
    """A client of a served channel: a serial number and its label."""

    def __init__(self, pid, label):
        self.id = pid
        self.rights, self.name = label if label else (Rights.R, None)
        self.labelled = label is not None


class Made:
    """What a driver's create answers: an fd (closed after sending), kind, rights."""

    def __init__(self, fd, kind, rights):
        self.fd, self.kind, self.rights = fd, kind, rights


def serve(listener_fd, create, kind="Ipc_gate", until=None):
    """Serves a channel: accepts clients, answers `type` with `kind`, and
    `create(peer, proto, args, fds)` requests with what `create` returns
    (a Made, or raises Error). Anything else gets ENOSYS, garbage EPROTO.
    Returns when `until()` (checked after each message) is true."""
    listener = socket.socket(fileno=listener_fd)
    clients = {}
    serial = 0
    while True:
        ready, _, _ = select.select([listener] + list(clients), [], [])
        for s in ready:
            if s is listener:
                c, _ = listener.accept()
                serial += 1
                clients[c] = Peer(serial, label_of(c))
                continue
            if not _answer(s, clients[s], create, kind):
                del clients[s]
                s.close()
            if until is not None and until():
                for c in clients:
                    c.close()
                return


def _answer(c, peer, create, kind):
    try:
        data, fds = recv(c)
    except OSError:
        return False
    if not data:
        return False
    out_fds = []
    try:
        op, mid, _, _, vals = decode(data)
    except Error as e:
        for fd in fds:
            os.close(fd)
        reply = encode(0 | REPLY, 0, e.status, [e.msg])
    else:
        if op == Op.TYPE:
            reply = encode(op | REPLY, mid, 0, [kind, Rights.R])
        elif op == Op.CREATE and vals and isinstance(vals[0], int):
            try:
                made = create(peer, vals[0], vals[1:], fds)
                out_fds = [made.fd]
                reply = encode(op | REPLY, mid, 0, [Cap(0, made.kind, made.rights)])
            except Error as e:
                reply = encode(op | REPLY, mid, e.status, [e.msg])
        elif op == Op.CREATE:
            reply = encode(op | REPLY, mid, -22, ["bad argument #1 to 'create' (protocol number expected)"])
        else:
            reply = encode(op | REPLY, mid, -38, ["op not served by this driver"])
    try:
        send(c, reply, out_fds)
    except OSError:
        return False
    finally:
        for fd in out_fds:
            os.close(fd)
    return True
