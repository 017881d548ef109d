"""config/admission.py: when a node stops and resumes accepting connections, by its event loop's lag.

The ports are recorders of what the controller asks of a listening port (the real Port's accept
loop is Twisted's); a real node under a reconnect storm is `make bench`'s storm step."""

from config import admission


class Port:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.numberAccepts = 100

    def doRead(self) -> None:
        self.calls.append(f"accept up to {self.numberAccepts}")

    def stopReading(self) -> None:
        self.calls.append("stop")

    def startReading(self) -> None:
        self.calls.append("start")


def controller() -> tuple[admission.Admission, Port]:
    control, port = admission.Admission(lambda delay, call: None), Port()
    control.add_port(port)
    return control, port


def test_a_late_loop_pauses_accepting_until_it_is_back_on_time():
    control, port = controller()
    control.observe(0.01, now=1.0)  # on time
    assert port.calls == []
    control.observe(admission.LAG_PAUSE + 0.01, now=1.1)
    assert (port.calls, control.pauses) == (["stop"], 1)
    control.observe(admission.LAG_RESUME + 0.01, now=1.12)  # better, not yet on time
    assert port.calls == ["stop"]
    control.observe(admission.LAG_RESUME - 0.01, now=1.14)
    assert port.calls == ["stop", "start"]


def test_a_loop_that_never_catches_up_still_lets_a_few_in_now_and_then():
    control, port = controller()
    control.observe(1.0, now=10.0)
    control.observe(1.0, now=10.0 + admission.MIN_ADMIT_EVERY / 2)
    assert port.calls == ["stop"]
    control.observe(1.0, now=10.0 + admission.MIN_ADMIT_EVERY + 1e-9)  # (10.1 - 10.0 < 0.1 in floats)
    assert port.calls == ["stop", f"accept up to {admission.MAX_ACCEPTS}"]
    control.observe(1.0, now=10.0 + admission.MIN_ADMIT_EVERY * 1.5)  # the next batch waits its turn
    assert len(port.calls) == 2


def test_a_wake_up_accepts_a_few_connections_not_a_hundred():
    _, port = controller()
    port.doRead()
    assert port.calls == [f"accept up to {admission.MAX_ACCEPTS}"]


def test_a_port_that_starts_listening_while_paused_waits_too():
    control, port = controller()
    control.observe(1.0, now=1.0)
    late = Port()
    control.add_port(late)
    assert late.calls == ["stop"]
