"""Typed errors. The CLI turns a `UserError` into one line on stderr and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a bad config key, an empty corpus, ..."""
