"""TorchServe's management API for one model with several versions: what `make retrain` and
`make rollback` call.

TorchServe 0.12 keeps every registered version of a model side by side, answers
`/predictions/<model>` with the default one and `/predictions/<model>/<version>` with any, and
switches the default in memory (`PUT /models/<model>/<version>/set-default`): requests already
queued finish on the version they were queued for, new ones go to the new default. Registering
(`POST /models?url=<archive in the model store>`) needs `enable_model_api=true`, and under the
container's config the management key; set-default needs only the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from stockcast.errors import LifecycleError


class ServerUnavailable(LifecycleError):
    """Nothing answers on the management address."""


@dataclass(frozen=True)
class ManagementClient:
    """Versions of `model_name` on the TorchServe whose management API is at `url`."""

    url: str  # e.g. http://127.0.0.1:8081
    model_name: str
    key: str | None = None  # the management key, where token authorization is on
    register_timeout_s: float = 300.0  # a synchronous registration waits for ready workers

    def check(self) -> None:
        """Raise `ServerUnavailable` (one line) unless the management API answers."""
        self._call("GET", "/models")

    def versions(self) -> list[str]:
        """Every registered version of the model (empty when it is not registered at all)."""
        described = self._call("GET", f"/models/{self.model_name}/all", missing_ok=True)
        return [model["modelVersion"] for model in described or []]

    def default_version(self) -> str | None:
        """The version `/predictions/<model>` answers with."""
        described = self._call("GET", f"/models/{self.model_name}", missing_ok=True)
        return described[0]["modelVersion"] if described else None

    def register(self, archive: str) -> None:
        """Register `archive` (a file name in the model store) and wait until its workers are
        ready; the default does not change."""
        self._call(
            "POST",
            "/models",
            params={"url": archive, "synchronous": "true"},  # workers: the archive's config
            timeout=self.register_timeout_s,
        )

    def set_default(self, version: str) -> None:
        self._call("PUT", f"/models/{self.model_name}/{version}/set-default")

    def unregister(self, version: str) -> None:
        self._call("DELETE", f"/models/{self.model_name}/{version}")

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        timeout: float = 10.0,
        missing_ok: bool = False,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            response = requests.request(
                method, self.url + path, params=params, headers=headers, timeout=timeout
            )
        except requests.RequestException as error:
            raise ServerUnavailable(
                f"TorchServe is not running at {self.url} ({type(error).__name__}); "
                "start it with `make run` (or `docker compose up`), or point "
                "lifecycle.management_url at it"
            ) from None
        if response.status_code == 404 and missing_ok:
            return None
        if not response.ok:
            raise LifecycleError(
                f"{method} {self.url}{path} answered {response.status_code}: "
                f"{_message(response)}{_hint(response.status_code)}"
            )
        return response.json()


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", response.text))[:300]
    except ValueError:
        return response.text[:300]


def _hint(status: int) -> str:
    if status == 400:
        return " (token authorization: pass the management key, lifecycle.management_key)"
    if status == 405:
        return " (model registration is off: enable_model_api=true in config.properties)"
    return ""
