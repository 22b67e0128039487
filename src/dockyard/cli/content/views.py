"""How the content commands show `/acr/v1` answers: as the JSON the server sent with `-o json`
(tables of chosen fields are `Columns`, cli/access/common.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.cli.access.common import print_json
from dockyard.cli.remote import Output


def shaped(answer: Any) -> Any:
    """An answer of `/acr/v1` models (or lists of them, or plain values) as the JSON the server
    sent: ACR's names, and only the fields it sent."""
    from pydantic import BaseModel

    from dockyard.cli.content_api import shape_json

    if isinstance(answer, list):
        return [shaped(item) for item in answer]
    if isinstance(answer, BaseModel):
        return shape_json(answer)
    return answer


def print_shaped(answer: Any, output: Output, show: Callable[[Any], None]) -> None:
    """An `/acr/v1` answer as the JSON the server sent with `-o json`, else as `show` prints
    it for people."""
    if output == Output.json:
        print_json(shaped(answer))
    else:
        show(answer)
