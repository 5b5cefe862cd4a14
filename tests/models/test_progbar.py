"""The progress display: Keras number format, one line per run off a terminal, live redraws on one."""
import io
import re

from gradflow.progbar import Progbar, format_logs, format_value


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_number_format():
    assert format_value(0.57481) == "0.5748"
    assert format_value(12.0) == "12.0000"
    assert format_value(0.0) == "0.0000"
    assert format_value(2.5e-5) == "2.5000e-05"
    assert format_logs({"loss": 0.5, "accuracy": 1}) == " - loss: 0.5000 - accuracy: 1.0000"


def test_verbose_2_prints_only_the_final_line():
    out = io.StringIO()
    bar = Progbar(10, verbose=2, stream=out)
    for i in range(1, 10):
        bar.update(i, {"loss": 1.0})
    assert out.getvalue() == ""
    bar.update(10, {"loss": 0.57481, "accuracy": 0.701}, finalize=True)
    assert re.fullmatch(r"10/10 - \d+s - \d+(us|ms|s)/step - loss: 0\.5748 - accuracy: 0\.7010\n", out.getvalue())


def test_verbose_1_off_a_terminal_prints_plain_final_line():
    out = io.StringIO()
    bar = Progbar(3, verbose=1, stream=out)
    bar.update(1, lambda: {"loss": 9.0})
    bar.update(3, {"loss": 0.25}, finalize=True)
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()  # a clean log: no redraws, no colours
    assert re.fullmatch(r"3/3 \u2501{20} \d+s \d+(us|ms|s)/step - loss: 0\.2500\n", out.getvalue())


def test_verbose_1_on_a_terminal_redraws_in_place_and_reads_logs_lazily():
    out = Terminal()
    asked = []

    def logs():
        asked.append(1)
        return {"loss": 0.5}

    bar = Progbar(4, verbose=1, stream=out, interval=0.0)
    bar.update(1, logs)
    bar.update(2, logs)
    bar.update(4, {"loss": 0.25}, finalize=True)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    plain = re.sub(r"\x1b\[\d+m", "", text)  # Keras 3's look: bold count, green done part, grey rest
    assert re.search(r"\r1/4 \u2501{20} \d+s \d+(us|ms|s)/step - loss: 0\.5000", plain)  # the ETA while running
    assert "\r4/4 " + "\u2501" * 20 + " " in plain
    assert "\x1b[32m" + "\u2501" * 5 + "\x1b[0m" in text  # 1/4 of 20: five green rules
    assert len(asked) == 2


def test_a_terminal_says_what_happens_before_the_first_step_ends():
    out = Terminal()
    bar = Progbar(4, verbose=1, stream=out, interval=0.0)
    bar.starting("first step: compiling")
    bar.update(1, {"loss": 0.5})
    plain = re.sub(r"\x1b\[\d+m", "", out.getvalue())
    assert plain.startswith("\r0/4 " + "\u2501" * 20 + " first step: compiling\r1/4 ")
    quiet = io.StringIO()
    Progbar(4, verbose=1, stream=quiet).starting("first step")  # a redirected log: nothing
    assert quiet.getvalue() == ""


def test_throttled_updates_do_not_ask_for_logs():
    out = Terminal()
    asked = []
    bar = Progbar(100, verbose=1, stream=out, interval=3600)
    bar.update(1, lambda: asked.append(1) or {})
    bar.update(2, lambda: asked.append(1) or {})
    assert len(asked) == 1  # the first draw happens, the next ones wait for the interval


def test_unknown_length():
    out = io.StringIO()
    bar = Progbar(None, verbose=2, stream=out)
    bar.update(7, {"loss": 1.0}, finalize=True)
    assert out.getvalue().startswith("      7/Unknown - ")  # Keras 3 pads the count to 7
