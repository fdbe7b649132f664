"""Every domain's event listeners, installed once wherever changes are recorded (the app, the CLI,
the tests, the benchmarks): ``backend.sync.feed.install_change_recorder`` calls ``install_listeners``.

Each domain's ``listeners.py`` has an ``install()`` that registers its handlers with
``backend.events.listen_in_transaction`` / ``listen``; registering twice is harmless."""

from __future__ import annotations

_installed = False


def install_listeners() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    # Imported here, not at module level: the listeners import the services, which import the feed.
    from backend.push.listeners import install_push_listeners
    from backend.quality.feedback.listeners import install as install_feedback
    from backend.quality.loop.listeners import install as install_loop

    install_loop()  # nonconformance candidates from ratings, refused sign-offs, repeat visits
    install_feedback()  # evaluations, callbacks and complaints from sign-offs and approvals
    install_push_listeners()  # last: notifications for whatever the others assigned
