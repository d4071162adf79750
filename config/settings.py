"""Settings, all read from the environment (12-factor), in one place.

With no environment at all the product runs on SQLite, the local-memory cache and
localstripe on 127.0.0.1:8420. Every variable is listed in `.env.example` and in the
README's configuration table.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file's.
DOT_ENV_FILE = Path(env.str("DJANGO_DOT_ENV_FILE", default=str(BASE_DIR / ".env")))
if DOT_ENV_FILE.is_file() and env.bool("DJANGO_READ_DOT_ENV", default=True):
    environ.Env.read_env(DOT_ENV_FILE)

DEVELOPMENT_SECRET_KEY = "django-insecure-aprende-comigo-development-only"
DEVELOPMENT_WEBHOOK_SECRET = "whsec_aprende_comigo_development"
LOCALSTRIPE_PORT = env.int("LOCALSTRIPE_PORT", default=8420)
LOCALSTRIPE_API_BASE = f"http://127.0.0.1:{LOCALSTRIPE_PORT}"
LOCALSTRIPE_SECRET_KEY = "sk_test_localstripe"

DEVELOPMENT_ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

# The development defaults below are refused by system checks (core/checks.py) as soon as
# this instance talks to a real Stripe: they only ever serve with localstripe.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=DEVELOPMENT_ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "accounts",
    "finances",
    "axes",
    "notifications",
    # --- Sign-in (allauth) and CORS ---
    "allauth",
    "allauth.account",
    "allauth.headless",
    "corsheaders",
    # --- end Sign-in (allauth) and CORS ---
]

MIDDLEWARE = [
    # --- CORS (first: answers preflights before anything else) ---
    "corsheaders.middleware.CorsMiddleware",
    # --- end CORS ---
    "django.middleware.security.SecurityMiddleware",
    # The Stripe webhook skips everything below (core/webhook_shortcut.py).
    "core.webhook_shortcut.StripeWebhookShortcutMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The pages' language: the visitor's choice (cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # --- Sign-in (allauth) ---
    "allauth.account.middleware.AccountMiddleware",
    # --- end Sign-in (allauth) ---
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into the lockout page (admin login throttling).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions make concurrent writers wait for each other (busy
    # timeout) instead of failing when a read lock is upgraded to a write lock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that the live test server's thread has its own
    # connection and transactions, as in production.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("SQLITE_TEST_DATABASE_PATH", default=str(BASE_DIR / ".test-db.sqlite3"))
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The webhook's hot statements are prepared once per connection
    # (core/prepared_statements.py). Django turns psycopg's prepared statements off
    # (prepare_threshold None, for PgBouncer in transaction mode); a threshold no query
    # reaches keeps them off for every other statement and lets those few be prepared.
    # Behind a pooler without prepared-statement support: DATABASE_PREPARED_STATEMENTS=false.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        _options.setdefault("prepare_threshold", 2**31 - 1)
    # A prepared statement keeps one generic plan: left to choose, PostgreSQL re-planned
    # the five-part package completion on every payment (0.8 ms, pg_stat_statements).
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan"

# --- Cache (rate limits are counted here, so it must be shared in production) --------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="aprende"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Admin login throttling (django-axes) --------------------------------------------
# The lockout backend first: a locked-out account or address is refused before any
# password is checked. Unlock: the admin's "Access attempts" page, or
# `manage.py axes_reset_username <email>` / `axes_reset_ip <address>` / `axes_reset`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Sign-in (allauth): email + password, emailed codes; refuses guests (accounts/adapters.py).
    "allauth.account.auth_backends.AuthenticationBackend",
]
AXES_ENABLED = env.bool("ADMIN_LOGIN_THROTTLE_ENABLED", default=True)
ADMIN_LOGIN_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
ADMIN_LOGIN_COOLOFF_MINUTES = env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15)
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_LOGIN_COOLOFF_MINUTES)
# Either one locks: a sprayed account (any address) and a spraying address (any account).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.admin_login.admin_login_client_ip"  # core.client_ip inside
AXES_USERNAME_CALLABLE = "core.admin_login.admin_login_username"
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
AXES_RESET_ON_SUCCESS = False  # a success must not wipe an address's failures on other accounts
# axes counts the admin's sign-ins only; the people's sign-ins (allauth) have allauth's own
# rate limits (ACCOUNT_RATE_LIMITS below), so a buyer's typos never lock an operator out.
AXES_ONLY_ADMIN_SITE = True
AXES_HANDLER = "core.admin_login.AdminOnlyAxesHandler"  # and only the admin's are counted

# --- Passwords, i18n, static ----------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en"
# The pages and emails speak European Portuguese and English.
LANGUAGES = [("en", "English"), ("pt-pt", "Português")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Lisbon")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security headers that matter behind a TLS-terminating proxy ---------------------
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
# Behind TLS everything is on by default; each knob can still be turned off.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=BEHIND_TLS_PROXY)
# Probes and scrapers inside the network call these over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics/$"]
SECURE_HSTS_SECONDS = env.int(
    "DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if BEHIND_TLS_PROXY else 0
)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- REST framework and OpenAPI ------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF answers 401 with its WWW-Authenticate challenge only when the first
    # authenticator has one (session authentication has none, which would turn 401 into 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # Sign-in (allauth): the headless API's `X-Session-Token` (app clients).
        "accounts.authentication.HeadlessSessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.StandardPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.exception_handler.application_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Aprende Comigo Finances API",
    "DESCRIPTION": (
        "Hour packages and subscriptions paid with Stripe. Every error response has the "
        'shape `{"error": {"code": str, "message": str, "fields": {...}?}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PurchaseStatusEnum": "finances.models.PurchaseTransaction.Status",
        "PlanTypeEnum": "finances.models.PricingPlan.PlanType",
        "SubscriptionStatusEnum": "finances.models.Subscription.Status",
        # families (docs/families.md)
        "PurchaseRequestStatusEnum": "finances.models.PurchaseRequest.Status",
        "PurchaseRequestEventKindEnum": "finances.models.PurchaseRequestEvent.Kind",
    },
}

# --- Stripe ---------------------------------------------------------------------------
# No key in the environment means development: talk to localstripe. A key without an
# API base means real Stripe.
_stripe_key_from_environment = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_SECRET_KEY = _stripe_key_from_environment or LOCALSTRIPE_SECRET_KEY
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="") or (
    "https://api.stripe.com" if _stripe_key_from_environment else LOCALSTRIPE_API_BASE
)
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRETS", default=[]) or [
    env.str("STRIPE_WEBHOOK_SECRET", default=DEVELOPMENT_WEBHOOK_SECRET)
]
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Marks our PaymentIntents; deployments sharing one Stripe account need distinct tags.
STRIPE_METADATA_APPLICATION = env.str(
    "STRIPE_METADATA_APPLICATION", default="aprende-comigo-finances"
)
# localstripe rejects parameters it does not know (description, automatic payment
# methods...); real Stripe gets them.
STRIPE_SEND_OPTIONAL_PARAMETERS = env.bool(
    "STRIPE_SEND_OPTIONAL_PARAMETERS", default="api.stripe.com" in STRIPE_API_BASE
)
STRIPE_LIVEMODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
# The API version every request asks for (`Stripe-Version`), so a dependency bump never
# changes a call silently. Default: the version the pinned SDK (stripe==16.1.0) was
# generated for; bump both together (a test checks they agree).
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="2026-10-28.endive")

# Where this deployment is reached from outside (Stripe CLI instructions, self-test).
# Also the links in emails (a guest's claim link); by default where `make run` serves.
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL",
    default=f"http://{env.str('HOST', default='127.0.0.1')}:{env.int('PORT', default=8000)}",
)

# --- Webhooks -------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_MAX_RETRIES = env.int("WEBHOOK_MAX_RETRIES", default=5)
WEBHOOK_RETRY_BACKOFF_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_SECONDS", default=60)
# A row left PROCESSING or RETRYING this long belongs to a worker that died.
WEBHOOK_STALE_PROCESSING_SECONDS = env.int("WEBHOOK_STALE_PROCESSING_SECONDS", default=300)

# A database connection used for a webhook less than this long ago skips Django's
# CONN_HEALTH_CHECKS `SELECT 1` on the next webhook (finances/api/webhooks.py).
WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS = env.float(
    "WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS", default=10.0
)
WEBHOOK_BACKLOG_ALERT_SECONDS = env.int("WEBHOOK_BACKLOG_ALERT_SECONDS", default=900)

# --- Health and metrics ---------------------------------------------------------------
STRIPE_HEALTH_CHECK_SECONDS = env.int("STRIPE_HEALTH_CHECK_SECONDS", default=60)
# `/health/` shows its checks only to staff and to `Authorization: Bearer <this>`.
HEALTH_BEARER_TOKEN = env.str("HEALTH_BEARER_TOKEN", default="")
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")

# --- Purchases and rate limits --------------------------------------------------------
RATE_LIMITING_ENABLED = env.bool("RATE_LIMITING_ENABLED", default=True)
RATE_LIMITS = {
    "purchase_initiate_ip": env.str("RATE_LIMIT_PURCHASE_PER_IP", default="10/hour"),
    "purchase_initiate_email": env.str("RATE_LIMIT_PURCHASE_PER_EMAIL", default="5/hour"),
    # A signed-in buyer is counted by account, not by an email strangers could flood.
    "purchase_initiate_user": env.str("RATE_LIMIT_PURCHASE_PER_USER", default="10/hour"),
    # families: invitations sent per account, and acceptance attempts per client network.
    "family_invitation_user": env.str("RATE_LIMIT_FAMILY_INVITATIONS_PER_USER", default="10/hour"),
    "family_invitation_accept_ip": env.str(
        "RATE_LIMIT_FAMILY_INVITATION_ACCEPTS_PER_IP", default="20/hour"
    ),
}
# A PENDING or FAILED purchase this old is an abandoned checkout: `expire_abandoned_checkouts`
# cancels its PaymentIntent (or credits it, when it was paid after all).
CHECKOUT_EXPIRY_HOURS = env.int("CHECKOUT_EXPIRY_HOURS", default=24)
# At most this many purchases are asked about per `reconcile_payments` run; open ones are
# re-checked at most every min(age / 4, 6 h).
RECONCILE_MAX_PURCHASES_PER_RUN = env.int("RECONCILE_MAX_PURCHASES_PER_RUN", default=200)
# Past this many rows (the planner's estimate), /metrics/ and admin page counts read the
# large statuses and unfiltered totals from PostgreSQL's statistics instead of scanning.
COUNT_ESTIMATE_MIN_ROWS = env.int("COUNT_ESTIMATE_MIN_ROWS", default=100_000)
# IPv6 clients share one IP bucket per network of this prefix length (a /64 is one site).
RATE_LIMIT_IPV6_PREFIX = env.int("RATE_LIMIT_IPV6_PREFIX", default=64)
if not 1 <= RATE_LIMIT_IPV6_PREFIX <= 128:
    raise ImproperlyConfigured("RATE_LIMIT_IPV6_PREFIX is a prefix length from 1 to 128.")
# Addresses (CIDR) of reverse proxies whose X-Forwarded-For is believed.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- Background jobs (django-q2; the queue is a table in the default database) ------
# A job enqueued inside a transaction exists only if it commits (the queue is a table on
# the same connection). `retry` must exceed `timeout`, or a slow job is handed out twice.
Q_CLUSTER = {
    "name": "aprende",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT_SECONDS", default=600),
    "retry": env.int("Q_RETRY_SECONDS", default=900),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "ack_failures": True,
    # Successful results kept per schedule (group), so a nightly job's last success is not
    # pruned by a minute-ly one's.
    "save_limit": env.int("Q_SAVE_LIMIT", default=200),
    "save_limit_per": "group",
    "poll": env.float("Q_POLL_SECONDS", default=1.0),
    "label": "Background jobs",
}
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise environ.ImproperlyConfigured("Q_RETRY_SECONDS must exceed Q_TIMEOUT_SECONDS.")

# Minutes between runs of each schedule of finances/schedules.py (`manage.py sync_schedules`
# applies them). A schedule is overdue after two intervals without a success.
SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES = env.int("SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES", default=1)
SCHEDULE_PAYMENTS_RECONCILE_MINUTES = env.int("SCHEDULE_PAYMENTS_RECONCILE_MINUTES", default=10)
SCHEDULE_ABANDONED_CHECKOUTS_EXPIRE_MINUTES = env.int(
    "SCHEDULE_ABANDONED_CHECKOUTS_EXPIRE_MINUTES", default=60
)
SCHEDULE_PACKAGES_EXPIRE_MINUTES = env.int("SCHEDULE_PACKAGES_EXPIRE_MINUTES", default=60)
SCHEDULE_EXPIRY_REMINDERS_MINUTES = env.int("SCHEDULE_EXPIRY_REMINDERS_MINUTES", default=24 * 60)
SCHEDULE_LEDGER_VERIFY_MINUTES = env.int("SCHEDULE_LEDGER_VERIFY_MINUTES", default=24 * 60)
SCHEDULE_NOTIFICATIONS_RETRY_MINUTES = env.int("SCHEDULE_NOTIFICATIONS_RETRY_MINUTES", default=1)
SCHEDULE_PURCHASE_REQUESTS_EXPIRE_MINUTES = env.int(
    "SCHEDULE_PURCHASE_REQUESTS_EXPIRE_MINUTES", default=15
)

# --- Families (docs/families.md) ------------------------------------------------------
# How long an emailed invitation link stays valid, and a student's purchase request open.
FAMILY_INVITATION_MAX_AGE_HOURS = env.int("FAMILY_INVITATION_MAX_AGE_HOURS", default=72)
FAMILY_PURCHASE_REQUEST_EXPIRY_HOURS = env.int("FAMILY_PURCHASE_REQUEST_EXPIRY_HOURS", default=24)
# --- end families ---

# --- Email (notifications, sent by the worker) ----------------------------------------
# EMAIL_URL (smtp+tls://user:password@host:587, consolemail://, ...) in production; without
# it every message is a file in EMAIL_FILE_PATH (`make run` says where).
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / ".run" / "emails"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=20)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Aprende Comigo <no-reply@aprendecomigo.example>"
)
NOTIFICATION_LANGUAGE = env.str("NOTIFICATION_LANGUAGE", default="pt-pt")  # or "en"
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=6)
NOTIFICATION_RETRY_BACKOFF_SECONDS = env.int("NOTIFICATION_RETRY_BACKOFF_SECONDS", default=60)
# A message left SENDING this long belongs to a worker that died: it is tried again.
NOTIFICATION_STALE_SENDING_SECONDS = env.int("NOTIFICATION_STALE_SENDING_SECONDS", default=600)
# Days before a lot expires that its owner is reminded of its unused hours.
EXPIRY_REMINDER_DAYS = env.int("EXPIRY_REMINDER_DAYS", default=3)

# --- Sign-in (allauth) ---------------------------------------------------------------
# Server-rendered pages under /accounts/ and the headless API under /_allauth/ (browser
# clients: the session cookie + CSRF; app clients: `X-Session-Token`, which the finance
# API accepts too). docs/sign-in-and-emails.md says what was chosen and why.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupNameForm"  # + the required `name`
ACCOUNT_UNIQUE_EMAIL = True
# A sign-up with a taken email (a guest's too) creates nothing and says "check your email":
# the owner gets a message (a guest: a claim link), nobody learns the address exists.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGOUT_ON_GET = False  # signing out is a POST (CSRF), never a link
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Aprende Comigo: "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if BEHIND_TLS_PROXY else "http"
# allauth's own rate limits (counted in the cache: needs Redis across processes).
ACCOUNT_RATE_LIMITS = {
    "login": env.str("RATE_LIMIT_LOGIN", default="30/m/ip"),
    "login_failed": env.str("RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env.str("RATE_LIMIT_SIGNUP", default="20/m/ip"),
    "confirm_email": "1/3m/key",
    "reset_password": env.str("RATE_LIMIT_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "request_login_code": env.str("RATE_LIMIT_LOGIN_CODE", default="20/m/ip,3/m/key"),
    "change_phone": "1/m/user",
    "reauthenticate": "10/m/user",
}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/account/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
HEADLESS_CLIENTS = ("browser", "app")
HEADLESS_SERVE_SPECIFICATION = True  # /_allauth/openapi.html
# The claim link of a guest's receipt: valid this long, once (docs/sign-in-and-emails.md).
CLAIM_LINK_MAX_AGE_HOURS = env.int("CLAIM_LINK_MAX_AGE_HOURS", default=72)
# Receipts, failed-payment and refund emails to buyers (services/purchase_notifications.py);
# off for a deployment whose platform writes to its customers itself (the signals say when).
BUYER_EMAILS_ENABLED = env.bool("BUYER_EMAILS_ENABLED", default=True)
# Stripe also emails its own receipt (real Stripe only: localstripe rejects the parameter).
STRIPE_SEND_RECEIPT_EMAIL = env.bool("STRIPE_SEND_RECEIPT_EMAIL", default=False)
# --- end Sign-in (allauth) ------------------------------------------------------------

# --- CORS (front ends on other origins) -----------------------------------------------
# None by default. Listed origins may call /api/ and /_allauth/ with credentials (cookies);
# they are trusted for CSRF too (a session-authenticated POST still needs its token).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True  # only ever sent back to an allowed origin
CORS_URLS_REGEX = r"^/(api|_allauth)/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-csrftoken",
    "x-requested-with",
    "x-session-token",
    "x-client-secret",
)
CSRF_TRUSTED_ORIGINS = [
    *CSRF_TRUSTED_ORIGINS,
    *(origin for origin in CORS_ALLOWED_ORIGINS if origin not in CSRF_TRUSTED_ORIGINS),
]
# --- end CORS -------------------------------------------------------------------------

# --- Outbound webhook to the platform (optional; the signals of finances/signals.py) --
PLATFORM_WEBHOOK_URL = env.str("PLATFORM_WEBHOOK_URL", default="")
PLATFORM_WEBHOOK_SECRET = env.str("PLATFORM_WEBHOOK_SECRET", default="")
if PLATFORM_WEBHOOK_URL and not PLATFORM_WEBHOOK_SECRET:
    raise environ.ImproperlyConfigured("PLATFORM_WEBHOOK_URL needs PLATFORM_WEBHOOK_SECRET.")
PLATFORM_WEBHOOK_TIMEOUT_SECONDS = env.float("PLATFORM_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
PLATFORM_WEBHOOK_MAX_ATTEMPTS = env.int("PLATFORM_WEBHOOK_MAX_ATTEMPTS", default=8)
PLATFORM_WEBHOOK_RETRY_BACKOFF_SECONDS = env.int(
    "PLATFORM_WEBHOOK_RETRY_BACKOFF_SECONDS", default=60
)

# --- `make run` (scripts/run.sh reads these through `manage.py runinfo`) --------------
RUN_HOST = env.str("HOST", default="127.0.0.1")
RUN_PORT = env.int("PORT", default=8000)
# gunicorn workers when the cache is shared (Redis); one with the local-memory cache.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=2)

# --- Storefront: the buyer's pages (helper "pages"; keep this block whole) -----------
# Plans at /, checkout, completion and /account/ (storefront/), with Stripe.js.
INSTALLED_APPS += ["storefront"]
TEMPLATES[0]["OPTIONS"]["context_processors"].append("storefront.context_processors.stripe_js")
# SetupIntents a checkout page asks for (one per payment attempt), per client network.
RATE_LIMITS["checkout_setup_ip"] = env.str("RATE_LIMIT_CHECKOUT_SETUP_PER_IP", default="30/hour")
# The storefront's Stripe.js; empty: https://js.stripe.com/v3/ for real Stripe, else the
# stand-in localstripe serves at {STRIPE_API_BASE}/js.stripe.com/v3/.
STOREFRONT_STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="")
# How often (ms) and how long (s) the completion page asks for the purchase's status.
STOREFRONT_STATUS_POLL_MILLISECONDS = env.int("STOREFRONT_STATUS_POLL_MILLISECONDS", default=1000)
STOREFRONT_STATUS_POLL_SECONDS = env.int("STOREFRONT_STATUS_POLL_SECONDS", default=90)
# "Expires soon" on /account/: hours whose package expires within this many days.
STOREFRONT_EXPIRING_SOON_DAYS = env.int("STOREFRONT_EXPIRING_SOON_DAYS", default=14)
# --- end of the storefront block --------------------------------------------------------

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # "text" (key=value) or "json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "core.logging.StructuredFormatter", "style_name": LOG_FORMAT}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "accounts": {"level": LOG_LEVEL},
        "core": {"level": LOG_LEVEL},
        "finances": {"level": LOG_LEVEL},
        "notifications": {"level": LOG_LEVEL},
        "django.request": {"level": "ERROR"},
        "stripe": {"level": "WARNING"},
    },
}
