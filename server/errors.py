"""Domain errors. Routes turn them into clear HTTP answers; nothing else is caught broadly."""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """Bad input: the message says what to fix. Nothing was changed."""

    status_code = 400


class NotFound(DomainError):
    """Missing, or belonging to someone else: the two are deliberately indistinguishable."""

    status_code = 404

    def __init__(self, message: str = "Not found") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    status_code = 403


class Throttled(DomainError):
    status_code = 429
