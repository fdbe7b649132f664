#!/bin/sh
# Migrations run at start, before the app takes traffic. With several replicas, Alembic's
# version table serialises them; run `fieldq migrate` as a one-off job if you prefer.
set -eu
fieldq migrate
exec "$@"
