"""Approvals in the panel, in a real browser, as two Jupyter users (each with a token of
their own, as under JupyterHub: tests/jupyter_users.py): alice promotes to a protected
alias and a request opens; she cannot approve it herself; bob approves from his own
browser; the alias moves and alice's view follows. Light and dark theme; screenshots go
to ``build/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jupyter_users import token_of
from tests.lab_browser import (  # noqa: F401  (browser is a fixture)
    browser,
    lab_server,
    open_panel,
    shot,
    widen_sidebar,
)
from tests.test_approvals_panel import protected  # noqa: F401  (a fixture)


@pytest.fixture
def people_lab(protected: None, store_env: Path) -> Iterator[str]:
    """JupyterLab whose identity provider names alice and bob by their tokens."""
    with lab_server(store_env, "--ServerApp.identity_provider_class="
                               "tests.jupyter_users.TokenUsers") as url:
        yield url


def _open_churn(browser: Any, lab: str, person: str, theme: str, errors: list[str]) -> Any:
    # a workspace of their own: the layout one person left is not restored for the other
    _, page, _ = open_panel(
        browser, f"{lab}/lab/workspaces/{person}-{theme}?token={token_of(person)}", theme,
        errors=errors)
    page.wait_for_selector('[data-testid="nbmlops-runs-table"], .nbmlops-muted')
    widen_sidebar(page, 900)
    page.click('[data-testid="nbmlops-tab-models"]')
    page.click('[data-testid="nbmlops-model-row"] >> text=churn')
    page.locator('[data-testid="nbmlops-approvals"]').wait_for()
    return page


def _production(page: Any) -> Any:
    return page.locator('[data-testid="nbmlops-alias"][data-alias="production"]')


@pytest.mark.timeout(300)
@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
def test_promote_request_approve_as_another_user(browser: Any, people_lab: str,
                                                 theme: str) -> None:
    from nbmlops import api

    errors: list[str] = []
    alice = _open_churn(browser, people_lab, "alice", theme, errors)
    bob = None
    try:
        assert alice.locator('[data-testid="nbmlops-acting-as"]').inner_text() == \
            "You act as alice."
        guard = alice.locator('[data-testid="nbmlops-protection"][data-alias="production"]')
        assert guard.inner_text().startswith(
            "@production moves after 1 approval by the approver role, never the requester's "
            "own; gates accuracy>=0.8")
        assert alice.locator('[data-testid="nbmlops-no-requests"]').inner_text() == "None open."

        # alice promotes version 2 to the protected alias: a request opens instead
        alice.locator('[data-testid="nbmlops-version-open"][data-version="2"]').click()
        button = alice.locator('[data-testid="nbmlops-promote-button"][data-version="2"]')
        button.click()
        dialog = alice.locator(".jp-Dialog")
        dialog.wait_for()
        dialog.get_by_label("Reason").fill("better recall")
        dialog.locator(".jp-mod-accept").click()
        dialog.wait_for(state="detached")
        notice = alice.locator('[data-testid="nbmlops-notice"]').inner_text()
        assert notice.startswith("churn@production is protected: request #1 opened to move "
                                 "it to version 2")
        request = alice.locator('[data-testid="nbmlops-request"][data-request="1"]')
        request.wait_for()
        assert request.locator('[data-testid="nbmlops-request-by"]').inner_text().startswith(
            "asked by alice")
        assert "“better recall”" in request.inner_text()
        assert "version 1 → version 2" in request.inner_text()
        assert request.locator('[data-testid="nbmlops-request-votes"]').inner_text() == \
            "0 of 1 approval"
        assert "version 1" in _production(alice).inner_text()

        # she cannot approve her own request: the one-line reason, and nothing moves
        request.locator('[data-testid="nbmlops-approve-button"]').click()
        refused = request.locator('[data-testid="nbmlops-error"]')
        refused.wait_for()
        assert refused.inner_text() == \
            "you (alice) opened request #1: someone else must approve it"
        request.scroll_into_view_if_needed()
        shot(alice, f"approvals-own-request-{theme}")

        # bob, in his own browser, approves
        bob = _open_churn(browser, people_lab, "bob", theme, errors)
        assert bob.locator('[data-testid="nbmlops-acting-as"]').inner_text() == \
            "You act as bob."
        his = bob.locator('[data-testid="nbmlops-request"][data-request="1"]')
        his.get_by_label("Reason for deciding request 1").fill("card checked")
        his.scroll_into_view_if_needed()
        shot(bob, f"approvals-request-{theme}")
        his.locator('[data-testid="nbmlops-approve-button"]').click()
        said = bob.locator('[data-testid="nbmlops-approval-notice"]')
        said.wait_for()
        assert said.inner_text() == \
            "Request #1 approved: churn@production now points at version 2."
        bob.wait_for_function("el => el.textContent.includes('version 2')",
                              arg=_production(bob).element_handle(), timeout=10_000)
        assert bob.locator('[data-testid="nbmlops-no-requests"]').is_visible()
        decided = bob.locator('[data-testid="nbmlops-decided-row"]')
        assert decided.first.inner_text().split("\t")[:5] == [
            "1", "@production", "version 1 → version 2", "alice", "approved"]

        # alice's view follows without a reload: the alias moved, the request closed
        alice.wait_for_function("el => el.textContent.includes('version 2')",
                                arg=_production(alice).element_handle(), timeout=15_000)
        alice.locator('[data-testid="nbmlops-no-requests"]').wait_for()
        alice.locator('[data-testid="nbmlops-decided-row"]').first.wait_for()
        alice.locator('[data-testid="nbmlops-history-row"]', has_text="approve").wait_for()
        history = alice.locator('[data-testid="nbmlops-history-row"]').all_inner_texts()
        by = [row.split("\t")[1:4:2] for row in history[:3]]  # newest first: action, by
        assert by == [["promote", "bob"], ["approve", "bob"], ["request", "alice"]]
        alice.locator('[data-testid="nbmlops-approvals"]').scroll_into_view_if_needed()
        shot(alice, f"approvals-approved-{theme}")

        # gates are checked again at approval: tightened after a request opened, the
        # failing gate shows on the request, and approving says why it is refused
        alice.locator('[data-testid="nbmlops-version-open"][data-version="3"]').click()
        alice.locator('[data-testid="nbmlops-promote-button"][data-version="3"]').click()
        alice.locator(".jp-Dialog .jp-mod-accept").click()
        alice.locator(".jp-Dialog").wait_for(state="detached")
        # the request is in the store (bob sees it) before the gate is tightened: the
        # dialog closes as it sends, so the audit trail's order depends on this wait
        bob.locator('[data-testid="nbmlops-request"][data-request="2"]').wait_for(
            timeout=15_000)
        api.protect_alias("churn", "production", approvals=1, require=["accuracy>=0.99"])
        api.close()
        gate = bob.locator('[data-testid="nbmlops-request"][data-request="2"] '
                           '[data-testid="nbmlops-request-gate"]')
        gate.wait_for(timeout=15_000)  # bob's view follows the store's change marker
        expected = ("gate accuracy>=0.99 failed: accuracy is 0.95; approving request #2 "
                    "(churn/3 to @production) refused")
        assert gate.inner_text() == expected
        second = bob.locator('[data-testid="nbmlops-request"][data-request="2"]')
        second.locator('[data-testid="nbmlops-approve-button"]').click()
        second.locator('[data-testid="nbmlops-error"]').wait_for()
        assert second.locator('[data-testid="nbmlops-error"]').inner_text() == expected
        second.scroll_into_view_if_needed()
        shot(bob, f"approvals-failing-gate-{theme}")
        assert not errors, errors
    except Exception:
        shot(alice, f"approvals-failure-alice-{theme}")
        if bob is not None:
            shot(bob, f"approvals-failure-bob-{theme}")
        raise
    finally:
        alice.context.close()
        if bob is not None:
            bob.context.close()
    api.close()
    assert api.model_version("churn@production").version == 2
    steps = [(e.action, e.user) for e in api.audit_events("churn")]
    assert steps[-5:] == [("request", "alice"), ("approve", "bob"), ("promote", "bob"),
                          ("request", "alice"), ("protect", "server-os-user")]
