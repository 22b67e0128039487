"""What every wire model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON body of the management API. Fields may be filled by their Python name or by
    their JSON alias; unknown fields are refused (a request body with a typo is a 400, and
    a CLI that meets a field it does not know was built for another server version)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ShapeModel(BaseModel):
    """A JSON body that the management API's OpenAPI document does not list: ACR's `/acr/v1`
    answers, the lines of the import's progress stream. The same rules as `WireModel`; tests
    hold these to real answers instead of to the document."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
