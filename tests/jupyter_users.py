"""A jupyter_server identity provider that names its users, for tests: each person has a
token of their own, as JupyterHub gives each user (``Authorization: token alice-token`` or
``/lab?token=bob-token``). The server's own token still works and stays anonymous.

Configure it with ``--ServerApp.identity_provider_class=tests.jupyter_users.TokenUsers``
(the tests' folder on the server's PYTHONPATH)."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User

PEOPLE = ("alice", "bob")


def token_of(person: str) -> str:
    return f"{person}-token"


class TokenUsers(IdentityProvider):
    async def get_user_token(self, handler: Any) -> User | None:
        token = self.get_token(handler)
        for person in PEOPLE:
            if token == token_of(person):
                return User(username=person, name=person.title(),
                            display_name=person.title())
        return await super().get_user_token(handler)  # type: ignore[no-any-return]
