"""What a check can conclude. The engine raises these while checking and turns them into a `Result`."""

from __future__ import annotations

from dataclasses import dataclass

PASSED = "passed"
INCORRECT = "incorrect"
NOT_ATTEMPTED = "not_attempted"
ERROR = "error"
STATUSES = (PASSED, INCORRECT, NOT_ATTEMPTED, ERROR)


class Outcome(Exception):
    """Base of the outcomes raised inside a check; the message is what the student reads."""

    status = ERROR


class Incorrect(Outcome):
    """The answer is wrong; the message says what is wrong and what to try, never the expected values."""

    status = INCORRECT


class NotAttempted(Outcome):
    """The answer is still the stub the lab ships with."""

    status = NOT_ATTEMPTED


class StudentError(Outcome):
    """The student's own code raised an exception while being checked."""

    status = ERROR


class TimeLimitExceeded(BaseException):
    """Raised by the check's own timer (MITDL_CHECK_TIMEOUT). A BaseException, so that a student's
    `except Exception:` cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Result:
    """The outcome of one check. ``bool(result)`` is True only when it passed."""

    exercise: str
    status: str
    message: str = ""

    def __bool__(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        from .render import result_line

        return result_line(self)

    def _ipython_display_(self) -> None:
        """`check()` has already printed this result; showing it again as the cell's value adds nothing."""
