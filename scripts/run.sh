#!/usr/bin/env bash
# Runs the product (called by `make run`): prepare the database, sync the schedules, start
# localstripe unless a real Stripe is configured, then serve the API with gunicorn and run
# the background worker (`manage.py qcluster`). Ctrl-C stops them all.
#
# Every decision comes from the effective settings, exactly as Django reads them
# (environment first, then `.env`), through `manage.py runinfo`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=.venv/bin/python
mkdir -p .run

# RUN_HOST, RUN_PORT, DATABASE_VENDOR, DATABASE_DESCRIPTION, CACHE_DESCRIPTION,
# STRIPE_API_BASE, USE_LOCALSTRIPE, LOCALSTRIPE_PORT, WEB_WORKERS, QUEUE_WORKERS,
# EMAIL_DESTINATION (shell-quoted; passwords redacted).
run_settings="$("$PYTHON" manage.py runinfo)"
eval "$run_settings"

# A PostgreSQL database that does not exist yet is created; any other problem is one line.
"$PYTHON" manage.py ensure_database
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py sync_schedules
"$PYTHON" manage.py seed_pricing_plans
"$PYTHON" manage.py collectstatic --noinput -v0

pids=()
descendants() {  # descendants <pid>: every process it started, and theirs
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do echo "$child"; descendants "$child"; done
}
stop_all() {
    trap - EXIT INT TERM
    # Named now: a worker's own processes can outlive it for a moment once it has exited.
    local offspring=() pid
    for pid in "${pids[@]}"; do offspring+=($(descendants "$pid")); done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # A worker finishing a job may take a while; after STOP_GRACE_SECONDS whatever is left
    # is killed (every job is idempotent: a job cut short is simply run again).
    local deadline=$((SECONDS + ${STOP_GRACE_SECONDS:-15}))
    while [ -n "$(jobs -rp)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    for pid in "${offspring[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    done
    for pid in $(jobs -rp) "${offspring[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

if [ "$USE_LOCALSTRIPE" = yes ]; then
    if "$PYTHON" -m devtools.localstripe is-ready --api-base "$STRIPE_API_BASE"; then
        echo "localstripe already answers on $STRIPE_API_BASE; using it."
    else
        .venv/bin/localstripe --port "$LOCALSTRIPE_PORT" --from-scratch >> .run/localstripe.log 2>&1 &
        pids+=($!)
        "$PYTHON" -m devtools.localstripe wait --api-base "$STRIPE_API_BASE"
    fi
    "$PYTHON" manage.py localstripe_register_webhook \
        --url "http://127.0.0.1:${RUN_PORT}/api/finances/webhooks/stripe/"
    stripe_description="localstripe at $STRIPE_API_BASE (log: .run/localstripe.log)"
else
    stripe_description="$STRIPE_API_BASE"
fi

cat <<INFO

  Aprende Comigo Finances
  Storefront:            http://${RUN_HOST}:${RUN_PORT}/   (buy with card 4242 4242 4242 4242)
  API docs (Swagger UI): http://${RUN_HOST}:${RUN_PORT}/api/docs/
  OpenAPI schema:        http://${RUN_HOST}:${RUN_PORT}/api/schema/
  Admin:                 http://${RUN_HOST}:${RUN_PORT}/admin/   (create a user: .venv/bin/python manage.py createsuperuser)
  Webhook endpoint:      http://${RUN_HOST}:${RUN_PORT}/api/finances/webhooks/stripe/
  Stripe:                ${stripe_description}
  Database:              ${DATABASE_DESCRIPTION}
  Cache:                 ${CACHE_DESCRIPTION}
  Web:                   gunicorn, ${WEB_WORKERS} worker(s)
  Background jobs:       manage.py qcluster, ${QUEUE_WORKERS} worker(s) (schedules and failures in the admin)
  Emails:                ${EMAIL_DESTINATION}
  Sign in:               http://${RUN_HOST}:${RUN_PORT}/accounts/login/   (a guest claims the account from the receipt's link)

INFO

# config/gunicorn.conf.py keeps query strings (and Referers) out of the access log.
.venv/bin/gunicorn -c config/gunicorn.conf.py config.wsgi:application \
    --bind "${RUN_HOST}:${RUN_PORT}" --workers "$WEB_WORKERS" --threads 8 --worker-class gthread \
    --access-logfile - --graceful-timeout 10 &
pids+=($!)
"$PYTHON" manage.py qcluster &
pids+=($!)

# Whichever stops first (or Ctrl-C) stops the others.
wait -n
