"""Type stubs for the native module `cxone_cdp._native`."""

import datetime
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any, Literal, TypeVar, final

from cxone_cdp._frames import ArrowArrayExportable, ArrowStreamExportable
from cxone_cdp._metrics import Metrics

__version__: str

_FilterValue = str | int | float | bool | datetime.date
_Filter = tuple[str, str, _FilterValue]
_Member = dict[str, Any]
_T = TypeVar("_T")
# What every async twin returns: a coroutine, bound to the loop that awaits it.
_Call = Coroutine[Any, Any, _T]

# --- listings: pages and iterators ---------------------------------------------

@final
class Page:
    """One page: the members, the cursor that produced it, the next cursor."""

    @property
    def items(self) -> list[_Member]: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def next_cursor(self) -> str | None: ...
    def __len__(self) -> int: ...

@final
class MemberIterator(Iterator[_Member], AsyncIterator[_Member]):
    def __iter__(self) -> MemberIterator: ...
    def __next__(self) -> _Member: ...
    def __aiter__(self) -> MemberIterator: ...
    def __anext__(self) -> Awaitable[_Member]: ...
    def close(self) -> None: ...

@final
class PageIterator(Iterator[Page], AsyncIterator[Page]):
    def __iter__(self) -> PageIterator: ...
    def __next__(self) -> Page: ...
    def __aiter__(self) -> PageIterator: ...
    def __anext__(self) -> Awaitable[Page]: ...
    def close(self) -> None: ...

@final
class Ready:
    def __await__(self) -> Ready: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> Any: ...

# --- the client -----------------------------------------------------------------

@final
class Querier:
    def __new__(
        cls,
        base_url: str | None,
        client_id: str,
        client_secret: str,
        *,
        token_url: str | None = None,
        scopes: Sequence[str] | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        cache_size: int = 50,
        cache_ttl: float = 120.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        audit_path: str | PathLike[str] | None = None,
        auth: Literal["client_credentials", "access_key"] | None = None,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        issuer: str | None = None,
    ) -> Querier: ...
    @classmethod
    def from_env(cls, **overrides: Any) -> Querier: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def client_id(self) -> str: ...
    def attributes(self) -> dict[str, str]: ...
    def attributes_async(self) -> _Call[dict[str, str]]: ...
    def refresh_attributes(self) -> dict[str, str]: ...
    def refresh_attributes_async(self) -> _Call[dict[str, str]]: ...
    def count(self, audience_id: str, filters: Sequence[_Filter] | None = None) -> int: ...
    def count_async(
        self, audience_id: str, filters: Sequence[_Filter] | None = None
    ) -> _Call[int]: ...
    def validate(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        require_nonzero: bool = False,
    ) -> dict[str, Any]: ...
    def validate_async(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        require_nonzero: bool = False,
    ) -> _Call[dict[str, Any]]: ...
    def members(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        query_id: str | None = None,
    ) -> list[_Member]: ...
    def members_async(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        query_id: str | None = None,
    ) -> _Call[list[_Member]]: ...
    def iter_members(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        query_id: str | None = None,
    ) -> MemberIterator: ...
    def iter_pages(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
        *,
        cursor: str | None = None,
    ) -> PageIterator: ...
    def register_webhook(
        self, name: str, url: str, events: Sequence[str], enabled: bool = True
    ) -> dict[str, Any]: ...
    def register_webhook_async(
        self, name: str, url: str, events: Sequence[str], enabled: bool = True
    ) -> _Call[dict[str, Any]]: ...
    def _counters(self) -> dict[str, int]: ...
    @staticmethod
    def _complexity(filters: Sequence[_Filter] | None = None) -> int: ...
    @property
    def auth(self) -> Literal["client_credentials", "access_key"]: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def area(self) -> str | None: ...
    @classmethod
    def discover(
        cls,
        issuer: str | None = None,
        *,
        client_id: str,
        client_secret: str,
        auth: Literal["client_credentials", "access_key"] | None = None,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        **options: Any,
    ) -> Querier: ...
    @classmethod
    def discover_async(
        cls,
        issuer: str | None = None,
        *,
        client_id: str,
        client_secret: str,
        auth: Literal["client_credentials", "access_key"] | None = None,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        **options: Any,
    ) -> _Call[Querier]: ...
    def metrics(self) -> Metrics: ...
    def metrics_prometheus(self) -> str: ...
    def cache_stats(self) -> dict[str, int | float]: ...
    def clear_cache(self) -> None: ...
    def plan_partitions(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        *,
        by: str,
        partitions: int = 8,
    ) -> list[dict[str, Any]]: ...
    def plan_partitions_async(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        *,
        by: str,
        partitions: int = 8,
    ) -> _Call[list[dict[str, Any]]]: ...
    @staticmethod
    def _check_local(
        audience_id: str, filters: Sequence[_Filter] | None = None, limit: int | None = None
    ) -> None: ...
    def iter_batches(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
    ) -> BatchIterator: ...
    def members_arrow(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
    ) -> ArrowStreamExportable: ...
    def members_arrow_async(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
    ) -> _Call[ArrowStreamExportable]: ...
    def to_pandas(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
    ) -> Any: ...
    def to_polars(
        self,
        audience_id: str,
        filters: Sequence[_Filter] | None = None,
        limit: int | None = None,
    ) -> Any: ...

@final
class BatchIterator(Iterator[ArrowArrayExportable], AsyncIterator[ArrowArrayExportable]):
    """Record batches (`__arrow_c_array__`), one per non-empty page."""

    def __iter__(self) -> BatchIterator: ...
    def __next__(self) -> ArrowArrayExportable: ...
    def __aiter__(self) -> BatchIterator: ...
    def __anext__(self) -> Awaitable[ArrowArrayExportable]: ...
    def close(self) -> None: ...

def _wait_for_callbacks(timeout: float = 5.0) -> bool: ...
def _reset_log_cache() -> None: ...
def _panic_for_test(mode: str = "sync") -> Any:
    """Test hook (private): panics inside a core task."""

# --- Simulator -------------------------------------------------------------

AUDIENCE_ID: str
EMPTY_AUDIENCE_ID: str
SUBSET_AUDIENCE_ID: str

@final
class Simulator:
    """The embedded CDP simulator (wrapped by `cxone_cdp.testing.Simulator`)."""

    def __new__(
        cls, *, members: int = 10000, port: int = 0, tls: bool = False, **faults: Any
    ) -> Simulator: ...
    @property
    def base_url(self) -> str: ...
    @property
    def ca_path(self) -> str | None: ...
    @property
    def token_url(self) -> str: ...
    @property
    def callback_url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def members(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def access_key_secret(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def area(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def auth_token_url(self) -> str: ...
    def stats_json(self) -> str: ...
    def webhooks_json(self) -> str: ...
    def callbacks(self) -> list[dict[str, Any]]: ...
    def reset(self) -> None: ...
    def set_faults(self, **faults: Any) -> None: ...
    def clear_faults(self) -> None: ...
    def restart(self) -> None: ...
    def shutdown(self) -> None: ...
    def expected_members_json(self, audience_id: str, filters: list[str] = ...) -> str: ...

# --- Arrow decoding of raw bodies (tests, benchmarks) ------------------------

def _decode_page_arrow(
    body: bytes, schema: list[tuple[str, str]]
) -> tuple[ArrowArrayExportable, str | None]:
    """Decode one members page body into (record batch, nextPageToken)."""

def _decode_pages_table(
    bodies: list[bytes], schema: list[tuple[str, str]]
) -> ArrowStreamExportable:
    """Decode members page bodies into one table (one batch per page)."""

# --- command line helpers ---------------------------------------------------

def export_members(
    querier: Querier,
    audience_id: str,
    filters: Sequence[_Filter] | None = None,
    limit: int = 1000,
    *,
    format: str,
    path: str | PathLike[str],
    checkpoint: str | PathLike[str] | None = None,
    resume: bool = False,
    progress: Any | None = None,
) -> dict[str, Any]: ...

# --- the client's filter grammar, for the Python modules --------------------

def parse_filter_expr(expr: str) -> tuple[str, str, str]: ...
def filter_operator(op: object) -> str: ...
def render_filters(filters: Sequence[_Filter]) -> list[str]: ...
def typed_filter_exprs(exprs: Sequence[str], attributes: Mapping[str, str]) -> list[_Filter]: ...
