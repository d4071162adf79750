#!/usr/bin/env bash
# Runs the product (called by `make run`): migrate, seed the default plans, start
# localstripe unless a real Stripe is configured, register our webhook URL with it,
# and serve the API with gunicorn on 127.0.0.1:$PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_aprende_comigo_development}"
LOCALSTRIPE_PORT=8420
LOCALSTRIPE_BASE="http://127.0.0.1:${LOCALSTRIPE_PORT}"
PYTHON=.venv/bin/python
mkdir -p .run

use_localstripe=no
if [ -z "${STRIPE_SECRET_KEY:-}" ] && { [ -z "${STRIPE_API_BASE:-}" ] || [ "${STRIPE_API_BASE}" = "$LOCALSTRIPE_BASE" ]; }; then
    use_localstripe=yes
fi

"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py seed_pricing_plans
"$PYTHON" manage.py collectstatic --noinput -v0

localstripe_pid=""
cleanup() {
    if [ -n "$localstripe_pid" ]; then kill "$localstripe_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

if [ "$use_localstripe" = yes ]; then
    if "$PYTHON" -m devtools.localstripe is-ready --api-base "$LOCALSTRIPE_BASE"; then
        echo "localstripe already answers on $LOCALSTRIPE_BASE; using it."
    else
        .venv/bin/localstripe --port "$LOCALSTRIPE_PORT" --from-scratch >> .run/localstripe.log 2>&1 &
        localstripe_pid=$!
        "$PYTHON" -m devtools.localstripe wait --api-base "$LOCALSTRIPE_BASE"
    fi
    "$PYTHON" -m devtools.localstripe register-webhook --api-base "$LOCALSTRIPE_BASE" \
        --url "http://127.0.0.1:${PORT}/api/finances/webhooks/stripe/" --secret "$STRIPE_WEBHOOK_SECRET"
    stripe_description="localstripe at $LOCALSTRIPE_BASE (log: .run/localstripe.log)"
else
    stripe_description="${STRIPE_API_BASE:-https://api.stripe.com}"
fi

# One worker when the cache is process-local, so rate limits stay exact.
if [ -n "${REDIS_URL:-}" ]; then workers="${WEB_CONCURRENCY:-2}"; else workers=1; fi

cat <<INFO

  Aprende Comigo Finances
  API docs (Swagger UI): http://${HOST}:${PORT}/api/docs/
  OpenAPI schema:        http://${HOST}:${PORT}/api/schema/
  Admin:                 http://${HOST}:${PORT}/admin/   (create a user: .venv/bin/python manage.py createsuperuser)
  Webhook endpoint:      http://${HOST}:${PORT}/api/finances/webhooks/stripe/
  Stripe:                ${stripe_description}
  Database:              ${DATABASE_URL:-sqlite:///db.sqlite3}
  Cache:                 ${REDIS_URL:-local memory}

INFO

.venv/bin/gunicorn config.wsgi:application \
    --bind "${HOST}:${PORT}" --workers "$workers" --threads 8 --worker-class gthread \
    --access-logfile - --graceful-timeout 10
