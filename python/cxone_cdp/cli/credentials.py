"""Connection settings: the connection flags, their environment variables,
secrets read from files or the environment, and the Querier they make. No
secret is ever quoted in a message: only where it came from and what is
wrong."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cxone_cdp.cli.args import Parser, filename, int_in, is_clean, seconds, text
from cxone_cdp.cli.exits import UsageError
from cxone_cdp.cli.output import show

ENV_BASE_URL = "CXONE_CDP_BASE_URL"
ENV_TOKEN_URL = "CXONE_CDP_TOKEN_URL"
ENV_CLIENT_ID = "CXONE_CDP_CLIENT_ID"
ENV_CLIENT_SECRET = "CXONE_CDP_CLIENT_SECRET"
ENV_AUTH = "CXONE_CDP_AUTH"
ENV_ACCESS_KEY_ID = "CXONE_CDP_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "CXONE_CDP_ACCESS_KEY_SECRET"
ENV_ISSUER = "CXONE_CDP_ISSUER"
ENV_CA_BUNDLE = "CXONE_CDP_CA_BUNDLE"
ENV_PROXY = "CXONE_CDP_PROXY"


def connection_parent() -> Parser:
    """The connection flags of every command that calls the API."""
    p = Parser(add_help=False)
    g = p.add_argument_group(
        "connection",
        f"Flags override the environment ({ENV_BASE_URL}, {ENV_TOKEN_URL}, {ENV_CLIENT_ID}). "
        f"The client secret is read only from {ENV_CLIENT_SECRET} or --client-secret-file.",
    )

    def setting(flag: str, kind: Any, what: str, env: str) -> None:
        g.add_argument(flag, type=kind, help=f"{what} (env {env})")

    def secret_file(flag: str, what: str, env: str) -> None:
        g.add_argument(
            flag,
            metavar="FILE",
            type=filename("FILE"),
            help=f"file holding the {what} (else env {env})",
        )

    setting("--base-url", text("URL"), "API root URL", ENV_BASE_URL)
    setting("--token-url", text("URL"), "OAuth token URL", ENV_TOKEN_URL)
    setting("--client-id", text("--client-id"), "OAuth client id", ENV_CLIENT_ID)
    secret_file("--client-secret-file", "client secret", ENV_CLIENT_SECRET)
    g.add_argument(
        "--max-retries",
        type=int_in(0, 100),
        default=3,
        help="retries per request (0..100, default 3)",
    )
    g.add_argument(
        "--timeout",
        type=seconds(positive=True),
        default=60.0,
        help="seconds per request (default 60)",
    )
    g.add_argument(
        "--auth",
        choices=["client_credentials", "access_key"],
        help=f"token grant (env {ENV_AUTH}; default client_credentials, the tutorial's contract; "
        "access_key is the CXone password grant, see docs/real-cxone.md)",
    )
    setting("--access-key-id", text("--access-key-id"), "CXone access key id", ENV_ACCESS_KEY_ID)
    secret_file("--access-key-secret-file", "access key secret", ENV_ACCESS_KEY_SECRET)
    setting("--issuer", text("URL"), "OAuth issuer for discovery", ENV_ISSUER)
    g.add_argument(
        "--ca-bundle",
        metavar="PEM",
        type=filename("--ca-bundle"),
        help=f"PEM file of CA certificates to trust besides the system's, e.g. a TLS-inspecting "
        f"proxy's root (env {ENV_CA_BUNDLE}; SSL_CERT_FILE replaces the system's roots)",
    )
    g.add_argument(
        "--proxy",
        metavar="URL",
        type=_proxy_flag,
        help=f"http:// or https:// proxy for every call, http://user:password@host:port with "
        f"credentials (env {ENV_PROXY}, better for a password; without either, HTTPS_PROXY, "
        "HTTP_PROXY and NO_PROXY apply)",
    )
    g.add_argument(
        "--discover",
        action="store_true",
        help="resolve the token endpoint and API base URL from the issuer's .well-known "
        "documents (default issuer https://cxone.niceincontact.com); --base-url and "
        "--token-url still win",
    )
    return p


def _proxy_flag(value: str) -> str:
    """--proxy: not blank, no control characters; never echoed (it may hold
    a password). The Querier checks the URL itself."""
    if not value.strip():
        raise argparse.ArgumentTypeError("is empty")
    if not is_clean(value):
        raise argparse.ArgumentTypeError(
            "holds control characters or undecodable bytes (the value is not shown)"
        )
    return value


_proxy_flag.__name__ = "--proxy"


def env(name: str) -> str | None:
    """An environment variable, None when unset or blank."""
    v = os.environ.get(name)
    return v if v and v.strip() else None


def querier(args: argparse.Namespace) -> Any:
    """A Querier from flags and environment; a UsageError (no request) when
    something is missing."""
    from cxone_cdp import Querier

    base_url = args.base_url or env(ENV_BASE_URL)
    token_url = args.token_url or env(ENV_TOKEN_URL)
    client_id = args.client_id or env(ENV_CLIENT_ID)
    secret = read_secret(args.client_secret_file, "--client-secret-file", ENV_CLIENT_SECRET)
    auth = args.auth or env(ENV_AUTH) or "client_credentials"
    issuer = args.issuer or env(ENV_ISSUER)
    key_id = key_secret = None
    if auth == "access_key":
        key_id = args.access_key_id or env(ENV_ACCESS_KEY_ID)
        key_secret = read_secret(
            args.access_key_secret_file, "--access-key-secret-file", ENV_ACCESS_KEY_SECRET
        )
    elif auth != "client_credentials":
        raise UsageError(f"{ENV_AUTH} must be client_credentials or access_key, not {auth!r}")
    required = [
        (f"--client-id or {ENV_CLIENT_ID}", client_id),
        (f"{ENV_CLIENT_SECRET} or --client-secret-file", secret),
    ]
    if not (args.discover or issuer):
        required.insert(0, (f"--base-url or {ENV_BASE_URL}", base_url))
    if auth == "access_key":
        required += [
            (f"--access-key-id or {ENV_ACCESS_KEY_ID}", key_id),
            (f"{ENV_ACCESS_KEY_SECRET} or --access-key-secret-file", key_secret),
        ]
    missing = [what for what, value in required if value is None]
    if missing:
        raise UsageError("missing connection settings: " + "; ".join(missing))
    assert client_id is not None and secret is not None  # both are required above
    options: dict[str, Any] = {
        "auth": auth,
        "access_key_id": key_id,
        "access_key_secret": key_secret,
        "token_url": token_url,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
        "ca_bundle": args.ca_bundle or env(ENV_CA_BUNDLE),
        "proxy": args.proxy or env(ENV_PROXY),
    }
    if args.discover:
        return Querier.discover(
            issuer, client_id=client_id, client_secret=secret, base_url=base_url, **options
        )
    return Querier(base_url, client_id, secret, issuer=issuer, **options)


def read_secret(file: str | None, flag: str, env_name: str) -> str | None:
    """A secret from a file's first line (flag) or else the environment."""
    if not file:
        value = env(env_name)
        where = env_name
        if value is not None:
            value = value.strip()
    else:
        where = f"{flag} {show(file)}"
        try:
            with open(file, encoding="utf-8") as f:
                value = f.readline().strip() or None
        except OSError as e:
            raise UsageError(f"cannot read {where}: {e.strerror or type(e).__name__}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{where} is not UTF-8 text") from None
        except ValueError:  # a NUL in the path
            raise UsageError(f"cannot read {where}: invalid path") from None
        if value is None:
            raise UsageError(f"{where} is empty")
    if value is not None and not is_clean(value):
        raise UsageError(f"the secret from {where} holds control characters or undecodable bytes")
    return value
