"""One log line per client error: the framework logs every 4xx with a full traceback, which buries real failures."""

from __future__ import annotations

import logging

from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

FRAMEWORK_LOGGER = "bentoml._internal.server.http_app"  # where BentoML logs "Exception on /path [POST]"


class ClientErrorsOnOneLine(logging.Filter):
    """Rewrites a logged client error (invalid input, a 4xx raised by an endpoint) as one warning line without
    the traceback; server errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError) and exc.title == "Input":  # the request's; not a response model's
            status, detail = 422, f"{exc.error_count()} validation error(s): {_first_error(exc)}"
        elif isinstance(exc, BentoMLException) and exc.error_code < 500:
            status, detail = _client_status(exc), str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        else:
            return True
        record.msg = "%s %s -> %d: %s"
        path, method = (record.args or ("?", "?"))[:2]
        record.args = (method, path, status, detail[:300])
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


def _client_status(exc: BentoMLException) -> int:
    return 422 if exc.error_code == 400 else int(exc.error_code)  # the guard answers the framework's 400 as 422


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_context=False, include_input=False)[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def quiet_client_errors() -> None:
    logger = logging.getLogger(FRAMEWORK_LOGGER)
    if not any(isinstance(f, ClientErrorsOnOneLine) for f in logger.filters):
        logger.addFilter(ClientErrorsOnOneLine())
