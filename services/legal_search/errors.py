"""Domain errors; the servicer maps them to gRPC codes. Messages are Spanish, for the caller's ears."""


class InvalidArgument(ValueError):
    """The request cannot be answered as asked (too long, bad date, bad limit...)."""


class Unavailable(RuntimeError):
    """The index or database is not ready."""
