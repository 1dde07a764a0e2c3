"""A real OpenID Connect provider for the tests: ``tests/oidc/provider.mjs`` (the certified ``oidc-provider`` npm
package) started as a process, and an httpx-only authorization-code + PKCE login against it.

The provider registers one confidential client, :data:`CLIENT_ID` / :data:`CLIENT_SECRET`; its access tokens are RS256
JWTs for the audience :data:`API_AUDIENCE` (resource indicator :data:`API_RESOURCE`, the provider's default resource).
See the header of ``tests/oidc/provider.mjs`` for the claims and the login form.

Typical use::

    reason = provider_available()
    if reason:
        pytest.skip(reason)
    with start_provider(None, ["http://127.0.0.1:8000/auth/callback"], [], ACCOUNTS) as provider:
        tokens = password_login(provider.issuer, CLIENT_ID, CLIENT_SECRET, redirect_uri, "alice", "secret")
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"

CLIENT_ID = "hopnhat-web"
CLIENT_SECRET = "hopnhat-test-secret"
API_AUDIENCE = "hopnhat-api"
# RFC 8707 wants an absolute URI as resource indicator: "hopnhat-api" is the audience, this is the resource.
API_RESOURCE = "urn:hopnhat:api"
DEFAULT_SCOPE = "openid profile email groups"
DEFAULT_PASSWORD = "secret"

START_TIMEOUT = 20.0


class ProviderError(RuntimeError):
    """The provider process did not start, or died."""


class LoginRefused(RuntimeError):
    """The provider did not issue an authorization code (wrong login or password, or an error page)."""

    def __init__(self, message: str, status_code: int, body: str) -> None:
        super().__init__(f"{message} (HTTP {status_code})")
        self.status_code = status_code
        self.body = body


def provider_available() -> str | None:
    """None when the provider can run here, else why not (for ``pytest.skip``)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "tests/oidc/node_modules/oidc-provider is missing: run `npm ci --prefix tests/oidc`"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Provider:
    """A running ``provider.mjs``. Use as a context manager, or call :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[bytes], issuer: str, workdir: Path) -> None:
        self.process = process
        self.issuer = issuer
        self.workdir = workdir

    @property
    def log_path(self) -> Path:
        return self.workdir / "provider.log"

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def discovery(self) -> dict[str, Any]:
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5.0)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; removes the temporary files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Provider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_provider(
    port: int | None,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
    accounts: Sequence[dict[str, Any]],
    *,
    access_token_ttl: int | None = None,
    timeout: float = START_TIMEOUT,
) -> Provider:
    """Start ``node tests/oidc/provider.mjs`` and wait until its discovery document answers 200.

    ``port=None`` lets the provider pick a free port itself. Raises :class:`ProviderError` with the process output when
    it does not come up within ``timeout`` seconds.
    """
    reason = provider_available()
    if reason:
        raise ProviderError(reason)
    if not redirect_uris:
        raise ValueError("the provider needs at least one redirect URI")
    workdir = Path(tempfile.mkdtemp(prefix="hopnhat-oidc-"))
    accounts_file = workdir / "accounts.json"
    accounts_file.write_text(json.dumps(list(accounts)), encoding="utf-8")
    args = ["node", str(PROVIDER_SCRIPT), "--port", str(port or 0), "--accounts", str(accounts_file)]
    for uri in redirect_uris:
        args += ["--redirect-uri", uri]
    for uri in post_logout_redirect_uris:
        args += ["--post-logout-redirect-uri", uri]
    if access_token_ttl is not None:
        args += ["--access-token-ttl", str(access_token_ttl)]
    # The output goes to a file, not a pipe: nobody has to keep reading it for the provider to keep running.
    with (workdir / "provider.log").open("wb") as log:
        process = subprocess.Popen(
            args,
            cwd=OIDC_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_ENV": os.environ.get("NODE_ENV", "test")},
        )
    provider = Provider(process, "", workdir)
    try:
        provider.issuer = _wait_ready(provider, time.monotonic() + timeout)
    except BaseException:
        provider.stop()
        raise
    return provider


def _wait_ready(provider: Provider, deadline: float) -> str:
    issuer = ""
    last_error = "no READY line"
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise ProviderError(f"provider exited with code {provider.process.returncode}:\n{provider.output()}")
        if not issuer:
            for line in provider.output().splitlines():
                if line.startswith("READY "):
                    issuer = line.split(" ", 1)[1].strip()
                    break
        if issuer:
            try:
                response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2.0)
                if response.status_code == 200:
                    return issuer
                last_error = f"discovery answered {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = f"discovery failed: {exc!r}"
        time.sleep(0.05)
    raise ProviderError(f"provider not ready after the timeout ({last_error}):\n{provider.output()}")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _FormParser(HTMLParser):
    """Finds the first form: its action, method and the values of its named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self._done and not self._in_form:
            self._in_form = True
            self.action = attributes.get("action", "")
            self.method = attributes.get("method", "get").lower()
        elif tag == "input" and self._in_form and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def _redirected_to(location: str, redirect_uri: str) -> bool:
    target, expected = urlsplit(location), urlsplit(redirect_uri)
    return (target.scheme, target.netloc, target.path) == (expected.scheme, expected.netloc, expected.path)


def password_login(
    issuer: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str = DEFAULT_SCOPE,
    resource: str | None = API_RESOURCE,
    *,
    auth_method: str = "client_secret_basic",
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Log in through the provider's form with httpx only and return the token endpoint's JSON answer.

    Authorization code + PKCE (S256), with state and nonce checked. The redirect to ``redirect_uri`` is captured, never
    fetched. ``resource=None`` sends no resource indicator (the provider defaults to :data:`API_RESOURCE`).
    ``auth_method`` is ``client_secret_basic`` or ``client_secret_post``. Raises :class:`LoginRefused` when no code
    comes back (the wrong password, for one). The returned dict also holds the ``nonce`` that was sent, to check the
    id_token against. Pass ``client`` (an httpx.Client that does not follow redirects) to keep the provider's session
    cookies afterwards, e.g. to test logout; by default a fresh client is used and closed.
    """
    if client is None:
        with httpx.Client(timeout=timeout, follow_redirects=False) as own_client:
            return _password_login(
                own_client,
                issuer,
                client_id,
                client_secret,
                redirect_uri,
                username,
                password,
                scope,
                resource,
                auth_method,
            )
    return _password_login(
        client, issuer, client_id, client_secret, redirect_uri, username, password, scope, resource, auth_method
    )


def _password_login(
    client: httpx.Client,
    issuer: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str,
    resource: str | None,
    auth_method: str,
) -> dict[str, Any]:
    if auth_method not in ("client_secret_basic", "client_secret_post"):
        raise ValueError(f"unsupported auth_method {auth_method!r}")
    config = client.get(f"{issuer}/.well-known/openid-configuration")
    config.raise_for_status()
    discovery: dict[str, Any] = config.json()
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if resource is not None:
        params["resource"] = resource
    response = client.get(discovery["authorization_endpoint"], params=params)
    code = None
    submitted = False
    for _ in range(20):
        location = response.headers.get("location")
        if response.is_redirect and location:
            url = urljoin(str(response.url), location)
            if _redirected_to(url, redirect_uri):
                query = parse_qs(urlsplit(url).query)
                if "error" in query:
                    raise LoginRefused(f"authorization error {query}", response.status_code, response.text)
                if query.get("state") != [state]:
                    raise LoginRefused(f"state mismatch in {url}", response.status_code, response.text)
                code = query["code"][0]
                break
            response = client.get(url)
            continue
        if response.status_code != 200 or submitted:
            raise LoginRefused("no authorization code", response.status_code, response.text)
        form = _FormParser()
        form.feed(response.text)
        if form.action is None or "login" not in form.fields or "password" not in form.fields:
            raise LoginRefused("no login form on the page", response.status_code, response.text)
        fields = {**form.fields, "login": username, "password": password}
        response = client.post(urljoin(str(response.url), form.action), data=fields)
        submitted = True
    if code is None:
        raise LoginRefused("too many redirects", response.status_code, response.text)

    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    if auth_method == "client_secret_basic":
        token = client.post(discovery["token_endpoint"], data=data, auth=httpx.BasicAuth(client_id, client_secret))
    else:
        data |= {"client_id": client_id, "client_secret": client_secret}
        token = client.post(discovery["token_endpoint"], data=data)
    if token.status_code != 200:
        raise ProviderError(f"token endpoint answered {token.status_code}: {token.text}")
    tokens: dict[str, Any] = token.json()
    tokens["nonce"] = nonce
    return tokens


def end_session(
    client: httpx.Client,
    issuer: str,
    id_token_hint: str,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> str:
    """RP-initiated logout with httpx, as a browser would do it (the provider's confirmation page submits itself).

    ``client`` must hold the provider's session cookies (see ``password_login(client=...)``) and not follow redirects.
    Returns the URL the provider finally redirects to (the post_logout_redirect_uri with ``state``), or "" when it
    shows its own "Sign-out Success" page.
    """
    discovery = client.get(f"{issuer}/.well-known/openid-configuration")
    discovery.raise_for_status()
    params = {"id_token_hint": id_token_hint}
    if post_logout_redirect_uri is not None:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    if state is not None:
        params["state"] = state
    response = client.get(discovery.json()["end_session_endpoint"], params=params)
    if response.status_code != 200:
        raise ProviderError(f"end_session answered {response.status_code}: {response.text}")
    form = _FormParser()
    form.feed(response.text)
    if form.action is None:
        raise ProviderError(f"no logout form on the page: {response.text}")
    confirm = client.post(urljoin(str(response.url), form.action), data={"logout": "yes", **form.fields})
    if confirm.is_redirect:
        return urljoin(str(confirm.url), confirm.headers["location"])
    if confirm.status_code == 200:
        return ""
    raise ProviderError(f"logout confirmation answered {confirm.status_code}: {confirm.text}")
