"""Quality indicators, technician scorecards and the management review report (issue 6, items 8–9).

``services`` holds the SQL (a handful of GROUP BY queries per request, no per-job Python loops),
``report`` renders the management review as HTML with inline SVG charts and as CSV, ``controllers``
is the thin HTTP layer."""
