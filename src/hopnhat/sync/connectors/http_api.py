"""Connector for a paged JSON API (Cần Thơ's through its bundled profile), as configuration:

- where the records are: ``items`` (a key or ``$.`` path of the answer; empty: the answer is the list);
- ``pagination``: ``cursor`` (``cursor_field`` of the answer -> ``cursor_param``), ``page`` (``page_param`` from
  ``first_page``), ``offset`` (``offset_param``/``limit_param``), ``next_link`` (``next_field`` holds the URL of the
  next page), ``link_header`` (the answer's ``Link`` header, RFC 8288, gives the ``rel="next"`` URL) or ``none``;
  ``size_param`` and ``page_size``;
- the incremental parameter: ``since_param`` with ``since_format`` (strftime, or ``iso``);
- ``[auth]``: ``kind`` = ``api_key`` (``header``, ``key``), ``basic`` (``username``, ``password``), ``bearer``
  (``token``) or ``oauth2`` (client credentials: ``token_url``, ``client_id``, ``client_secret``, ``scope``; the
  token is fetched again when it expires or the API answers 401, once); every secret as ``{env = "NAME"}`` or
  ``{file = "/path"}`` (see :mod:`hopnhat.sync.secrets`);
- ``rate_per_second`` (at most that many requests), ``retries`` and ``backoff_seconds`` (exponential, and the
  server's ``Retry-After`` on 429/503), ``timeout_seconds``, ``ca_bundle`` (a PEM file the server's certificate is
  checked against).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from hopnhat.sync.ahead import read_ahead
from hopnhat.sync.connectors.base import RawRecord, Scan, TerminalError, TransientError, require, row_digests
from hopnhat.sync.mapping import Mapping as SourceMapping
from hopnhat.sync.mapping import getter
from hopnhat.sync.profiles import resolve
from hopnhat.sync.secrets import secret

PAGINATIONS = ("cursor", "page", "offset", "next_link", "link_header", "none")


class Auth:
    """Headers a request needs; OAuth2 client credentials keep their token until it expires or is refused."""

    def __init__(self, options: Mapping[str, Any], client: httpx.Client) -> None:
        self.kind = str(options.get("kind", "none"))
        self.options = options
        self.client = client
        self.token: str | None = None
        self.expires = 0.0
        self.fetched = 0
        """Tokens fetched so far (tests and the profiler's report read it)."""
        if self.kind not in ("none", "api_key", "basic", "bearer", "oauth2"):
            raise TerminalError(f"unknown auth kind {self.kind!r} (none, api_key, basic, bearer, oauth2)")

    def headers(self) -> dict[str, str]:
        o = self.options
        if self.kind == "api_key":
            return {str(o.get("header", "X-API-Key")): secret(o, "key")}
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {secret(o, 'token')}"}
        if self.kind == "basic":
            basic = httpx.BasicAuth(str(require(o, "username")), secret(o, "password"))
            request = next(basic.auth_flow(httpx.Request("GET", "http://x")))
            return {"Authorization": request.headers["Authorization"]}
        if self.kind == "oauth2":
            if self.token is None or time.monotonic() >= self.expires:
                self.refresh()
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def refresh(self) -> None:
        o = self.options
        data = {"grant_type": "client_credentials"}
        if o.get("scope"):
            data["scope"] = str(o["scope"])
        try:
            resp = self.client.post(
                str(require(o, "token_url")), data=data, auth=(str(require(o, "client_id")), secret(o, "client_secret"))
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(f"token endpoint: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise TerminalError(f"token endpoint {o['token_url']} answered HTTP {resp.status_code}")
        try:
            body = orjson.loads(resp.content)
            self.token = str(body["access_token"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise TerminalError(f"token endpoint {o['token_url']} gave no access_token") from exc
        # A little before the announced expiry: a token must not lapse between this check and the request.
        self.expires = time.monotonic() + max(0.0, float(body.get("expires_in", 3600)) - 5)
        self.fetched += 1

    def refused(self) -> bool:
        """A 401: with OAuth2 the token is dropped and fetched again (True: worth one more try)."""
        if self.kind != "oauth2":
            return False
        self.token = None
        return True


class HttpApiConnector:
    kind = "http_api"

    def __init__(self, options: Mapping[str, Any], transport: httpx.BaseTransport | None = None) -> None:
        opts = resolve({"connector": self.kind, **options})
        self.base_url = str(require(opts, "base_url")).rstrip("/")
        self.endpoint = str(opts.get("endpoint", ""))
        self.page_size = int(opts.get("page_size", 500))
        self.retries = int(opts.get("retries", 4))
        self.backoff = float(opts.get("backoff_seconds", 0.5))
        self.pagination = str(opts.get("pagination", "cursor"))
        if self.pagination not in PAGINATIONS:
            raise TerminalError(f"unknown pagination {self.pagination!r} ({', '.join(PAGINATIONS)})")
        items = str(opts.get("items", "items"))
        self.items = getter(items, "items") if items else None
        self.size_param = str(opts.get("size_param", "page_size"))
        self.cursor_field = getter(str(opts.get("cursor_field", "next_page_token")), "cursor_field")
        self.cursor_param = str(opts.get("cursor_param", "page_token"))
        self.page_param = str(opts.get("page_param", "page"))
        self.first_page = int(opts.get("first_page", 1))
        self.offset_param = str(opts.get("offset_param", "offset"))
        self.limit_param = str(opts.get("limit_param", "limit"))
        self.next_field = getter(str(opts.get("next_field", "next")), "next_field")
        self.since_param = opts.get("since_param")
        self.since_format = str(opts.get("since_format", "iso"))
        self.params = {str(k): v for k, v in dict(opts.get("params", {})).items()}
        rate = float(opts.get("rate_per_second", 0))
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.last_request = 0.0
        self.next_from_header: str | None = None
        """The ``rel="next"`` URL of the last answer's ``Link`` header."""
        self.mapping = SourceMapping(opts.get("mapping"), province_code=str(opts.get("province_code", "")))
        # httpx logs every request at INFO: one line per page would drown the progress bars.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        verify: Any = str(opts["ca_bundle"]) if opts.get("ca_bundle") else True
        self.client = httpx.Client(timeout=float(opts.get("timeout_seconds", 10)), transport=transport, verify=verify)
        self.auth = Auth(dict(opts.get("auth", {})), self.client)

    def location(self) -> str:
        return f"{self.base_url}{self.endpoint}"

    def _pace(self) -> None:
        if self.interval:
            wait = self.last_request + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.last_request = time.monotonic()

    def _get(self, url: str, params: dict[str, Any] | None) -> Any:
        last = ""
        reauthorised = False
        attempt = 0
        while attempt <= self.retries:
            self._pace()
            try:
                resp = self.client.get(url, params=params, headers=self.auth.headers())
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                attempt += 1
                self._sleep(attempt, None)
                continue
            if resp.status_code == 401 and not reauthorised and self.auth.refused():
                reauthorised = True
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                last = f"HTTP {resp.status_code}"
                attempt += 1
                self._sleep(attempt, resp.headers.get("Retry-After"))
                continue
            if resp.status_code != 200:
                raise TerminalError(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}")
            self.next_from_header = resp.links.get("next", {}).get("url") if "link" in resp.headers else None
            try:
                # orjson: parsing is most of reading this source, at about a third of the standard library's cost.
                return orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise TransientError(f"answer is not JSON: {exc}") from exc
        raise TerminalError(f"{self.base_url} still failing after {self.retries + 1} attempts ({last})")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt > self.retries:
            return
        delay = self.backoff * 2 ** (attempt - 1)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        time.sleep(delay)

    def _page_items(self, data: Any) -> list[dict[str, Any]]:
        found = data if self.items is None else self.items(data) if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise TerminalError(f"{self.location()}: the answer holds no list of records where the config says")
        return [item for item in found if isinstance(item, dict)]

    def _items(self, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        url = self.base_url + self.endpoint
        params: dict[str, Any] = dict(self.params)
        if self.pagination != "none":
            params[self.limit_param if self.pagination == "offset" else self.size_param] = self.page_size
        if since is not None and self.since_param:
            fmt = self.since_format
            params[str(self.since_param)] = since.isoformat(timespec="seconds") if fmt == "iso" else since.strftime(fmt)
        if self.pagination == "page":
            params[self.page_param] = self.first_page
        if self.pagination == "offset":
            params[self.offset_param] = 0
        next_url: str | None = url
        query: dict[str, Any] | None = params
        try:
            while next_url is not None:
                data = self._get(next_url, query)
                items = self._page_items(data)
                yield items
                next_url = self._next(url, data, items, params)
                if self.pagination in ("next_link", "link_header"):
                    query = None  # the link carries every parameter (given params would replace its query)
        finally:
            self.client.close()

    def _next(self, url: str, data: Any, items: list[dict[str, Any]], params: dict[str, Any]) -> str | None:
        if self.pagination == "cursor":
            token = self.cursor_field(data) if isinstance(data, dict) else None
            if not token:
                return None
            params[self.cursor_param] = token
            return url
        if self.pagination == "page":
            if len(items) < self.page_size or not items:
                return None
            params[self.page_param] = int(params[self.page_param]) + 1
            return url
        if self.pagination == "offset":
            if len(items) < self.page_size or not items:
                return None
            params[self.offset_param] = int(params[self.offset_param]) + len(items)
            return url
        if self.pagination == "next_link":
            link = self.next_field(data) if isinstance(data, dict) else None
            return self._same_origin(urljoin(url, str(link))) if link else None
        if self.pagination == "link_header":
            return self._same_origin(urljoin(url, self.next_from_header)) if self.next_from_header else None
        return None

    def _same_origin(self, link: str) -> str:
        """A next page the server names must be on the configured server: the credentials go with every request."""
        here, there = urlsplit(self.base_url), urlsplit(link)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise TerminalError(
                f"{self.location()}: the next page is on another server ({there.scheme}://{there.netloc})"
            )
        return link

    def extract(self, since: datetime | None) -> Iterator[RawRecord]:
        record = self.mapping.record
        for items in self._items(since):
            for item, digest in zip(items, row_digests(items), strict=True):
                yield record(item, digest)

    def scan(self, since: datetime | None) -> Iterator[Scan]:
        # Pages fetched ahead in a worker thread, so the server builds the next page while this one is checked
        # (each page needs the token of the one before: one request at a time). Not in ``extract``: there the
        # sync's own read-ahead thread already overlaps the source with the store, and a third thread only added
        # contention for the interpreter lock (a full sync of Cần Thơ took 3 % longer with it).
        mapping = self.mapping
        for items in read_ahead(lambda: self._items(since)):
            ids = [str(mapping.source_id(item) or "") for item in items]
            stamps = [mapping.stamp(item) for item in items]
            digests = row_digests(items)
            yield Scan(ids, stamps, digests, partial(_item_record, mapping, items, digests))


def _item_record(mapping: SourceMapping, items: list[dict[str, Any]], digests: list[bytes], i: int) -> RawRecord:
    return mapping.record(items[i], digests[i])
