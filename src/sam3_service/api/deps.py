"""Typed dependencies that routes declare: the services and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from ..domain.services import Services
from ..errors import InvalidInput

ANONYMOUS = "anonymous"  # the one owner of every task while authentication is off
CLIENT_ID_HEADER = "x-client-id"
_MAX_CLIENT_ID_CHARS = 128


def get_services(request: Request) -> Services:
    return cast(Services, request.state.services)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the owner of the tasks they create, and whether they may see every task."""

    owner: str
    admin: bool
    key_id: str | None = None  # None with authentication off

    @property
    def visible_owner(self) -> str | None:
        """The owner filter for lookups: None lets an admin see every task."""
        return None if self.admin else self.owner


def get_caller(request: Request) -> Caller:
    return cast(Caller, getattr(request.state, "caller", Caller(owner=ANONYMOUS, admin=False)))


def get_routing_owner(request: Request) -> str | None:
    """Whose bucket routes the request to a model version: the key's owner (None), or, with
    authentication off, the `X-Client-Id` header when sent. Raises InvalidInput."""
    client_id = request.headers.get(CLIENT_ID_HEADER)
    if get_caller(request).key_id is not None or not client_id:
        return None
    if len(client_id) > _MAX_CLIENT_ID_CHARS or not client_id.isprintable():
        raise InvalidInput(f"X-Client-Id is 1 to {_MAX_CLIENT_ID_CHARS} printable characters")
    return client_id


ServicesDep = Annotated[Services, Depends(get_services)]
CallerDep = Annotated[Caller, Depends(get_caller)]
RoutingOwnerDep = Annotated[str | None, Depends(get_routing_owner)]
