"""python-socketio with its Redis manager on uvicorn: the strongest common Python alternative,
kept as a benchmark baseline. Clients join ?room=...; a `chat` event is emitted to the room."""

import os

import socketio

manager = socketio.AsyncRedisManager(os.environ["BENCH_REDIS_URL"])
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ, auth):
    query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
    await sio.enter_room(sid, query.get("room", "bench"))


@sio.event
async def chat(sid, data):
    await sio.emit("chat", data, room=data["room"])
