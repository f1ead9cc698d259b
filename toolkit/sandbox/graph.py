"""All Microsoft Graph v1.0 routes of the sandbox, one module per area."""

from __future__ import annotations

from toolkit.sandbox.app import Route


def routes() -> list[Route]:
    from toolkit.sandbox import graph_directory, graph_mail, graph_signals, graph_tracing

    return [
        *graph_directory.routes(),
        *graph_mail.routes(),
        *graph_signals.routes(),
        *graph_tracing.routes(),
    ]
