"""Credentials never reach a log line or an error body, even when a client puts one in the
query string (`?access_token=…`, which the service does not accept): their values are hidden."""

from __future__ import annotations

import re

from aiohttp import web

_SECRET_NAME = re.compile(r"token|secret|passw|api[-_]?key|auth|session|signature", re.I)
HIDDEN = "hidden"


def redacted(request: web.BaseRequest) -> str:
    """The request's path and query, with the values of credential-like parameters hidden."""
    url = request.rel_url
    if not url.raw_query_string or not _SECRET_NAME.search(url.query_string):
        return str(url)
    query = [(k, HIDDEN if _SECRET_NAME.search(k) else v) for k, v in url.query.items()]
    return str(url.with_query(query))
