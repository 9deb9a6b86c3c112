"""The one exception type for errors a user can cause; the CLI prints it as one line."""


class MitdlError(Exception):
    """A problem the user can fix (bad input, no network, corrupt file); the message says what to do."""
