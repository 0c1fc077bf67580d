"""Mask secrets in URLs before they are printed, raised or logged.

`redact_url` replaces the password of a URL's user info and the values of token-like query
parameters (``password=``, ``token=``, ``secret=``, ``key=``, ...) with ``***``, for any scheme
(``http``, ``postgresql+psycopg2``, ``mysql``, ...). `redact_text` does the same for every URL
found inside a longer text, such as an exception message or a study file.

Left out on purpose: secrets that are not in a URL (environment variables, headers), and any
attempt to recognise a bare token by its shape. Standard library only.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url"]

MASK = "***"
# Query parameter names whose value is a secret: a name ending in a long word below
# ("sslpassword", "access_token", "client_secret"), or whose last part ("-", "_" or "."
# separated) is a short one ("api_key", "X-Amz-Signature", "sig"); "monkey" is not a key.
_SECRET_SUFFIXES = ("password", "passwd", "token", "secret", "credential", "credentials")
_SECRET_PARTS = {"pass", "pwd", "key", "apikey", "sig", "signature", "auth", "authorization"}
_QUERY_PAIR = re.compile(r"([^&;=]+)=([^&;]*)")
# A URL inside free text: scheme://, then anything up to whitespace or a closing quote/bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")


def _is_secret_name(name: str) -> bool:
    name = name.strip().lower()
    return name.endswith(_SECRET_SUFFIXES) or re.split(r"[-_.]", name)[-1] in _SECRET_PARTS


def _mask_query(query: str) -> str:
    def mask(m: re.Match) -> str:
        name = m.group(1)
        return f"{name}={MASK}" if _is_secret_name(name) and m.group(2) else m.group(0)

    return _QUERY_PAIR.sub(mask, query)


def redact_url(url: str) -> str:
    """Return ``url`` with its password and token-like query values replaced by ``***``.

    Parameters
    ----------
    url : str
        Any URL or URI (``http://user:pw@host:5000``, ``postgresql://u:p@h/db?sslkey=...``,
        ``sqlite:////abs/path/mlflow.db``). A string that is not a URL comes back unchanged.

    Returns
    -------
    str
        The URL with ``user:***@`` in place of ``user:password@`` and ``name=***`` for query
        parameters named like a secret (password, token, secret, key, signature, ...). The user
        name, host, port, path and other parameters are kept, so the message stays useful.

    Examples
    --------
    >>> redact_url("postgresql://optuna:hunter2@db:5432/optuna")
    'postgresql://optuna:***@db:5432/optuna'
    >>> redact_url("https://host/api?token=abc&x=1")
    'https://host/api?token=***&x=1'
    """
    if not isinstance(url, str) or "://" not in url and "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal: mask everything between :// and @
        return re.sub(r"(://[^/@:]*):[^/@]*@", rf"\1:{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, password = userinfo.partition(":")
        if sep and password:
            netloc = f"{user}:{MASK}@{hostport}"
        elif not sep and _looks_like_token(user):  # https://<token>@host: the user is a token
            netloc = f"{MASK}@{hostport}"
    query = _mask_query(parts.query) if parts.query else parts.query
    fragment = _mask_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url  # untouched: keep the exact original spelling
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, fragment))


def _looks_like_token(user: str) -> bool:
    """A user name that is really a credential (``ghp_...``, a long random string)."""
    return len(user) >= 20 and bool(re.fullmatch(r"[A-Za-z0-9_\-.]+", user))


def redact_text(text: str) -> str:
    """Apply `redact_url` to every ``scheme://...`` URL found in ``text``.

    Parameters
    ----------
    text : str
        Free text: an exception message, a log line, the contents of a study file.

    Returns
    -------
    str
        ``text`` with each URL redacted; everything else unchanged.

    Examples
    --------
    >>> redact_text('uri = "http://me:pw@host:5000" failed')
    'uri = "http://me:***@host:5000" failed'
    """
    if not isinstance(text, str) or "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
