"""daphne, with one protocol option changed: `python -m config.server` takes daphne's arguments.

autobahn fails a connection that breaks a limit (a frame above
--websocket-max-message-size, invalid UTF-8 in a text frame) by dropping TCP, so a
client sees only 1006. With failByDrop off it first sends the close frame with the
documented code (1009 too big, 1007 invalid UTF-8), which clients can act on.
"""

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor


class ChatServer(Server):
    """daphne's server; the WebSocket factory sends a close code before dropping a connection."""

    def run(self) -> None:
        # run() creates ws_factory and then blocks in reactor.run(); this runs in between,
        # before the first connection is accepted.
        reactor.callWhenRunning(lambda: self.ws_factory.setProtocolOptions(failByDrop=False))
        super().run()


class ChatCommandLineInterface(CommandLineInterface):
    server_class = ChatServer


if __name__ == "__main__":
    ChatCommandLineInterface.entrypoint()
