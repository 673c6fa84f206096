"""Typed dependencies that routes declare: the services and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from ..domain.services import Services

ANONYMOUS = "anonymous"  # the one owner of every task while authentication is off


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


ServicesDep = Annotated[Services, Depends(get_services)]
CallerDep = Annotated[Caller, Depends(get_caller)]
