"""Bulk SQL for a "two years of history" database (bench-scale and the query-plan tests).

`history_load(purchases=N)` writes, with one `INSERT … SELECT generate_series` per table:

- N/20 guest students (with their balance rows, summed from their ledger at the end);
- N purchases of the 10-hour package, created evenly over the last 730 days: every 25th
  CANCELLED (never paid), the others COMPLETED with their Customer and Charge ids;
- per completed purchase its CREDIT, a lesson (DEBIT of 60 minutes) for every 4th, and an
  EXPIRY of what was left for each lot that expired more than 6 hours ago (what the
  expiry run would have written), so the lots that expired in the last 6 hours are the
  ones due: about N/2,900 of them;
- per purchase its webhook event (`payment_intent.succeeded` or `.canceled`, PROCESSED,
  a ~2 KB payload), plus a small backlog: 30 FAILED events awaiting their retry and 5
  needing a person.

Everything satisfies the tables' constraints and the ledger's append-only trigger (only
INSERTs). The one trigger switched off while loading is the ledger's "open lot" one
(0011_perf_read_paths): `lot_open` is written directly with the value it and the expiry
run would have left, instead of a million single-row UPDATEs.
"""

from django.db import connection, transaction
from django.utils import timezone

USERS = """
INSERT INTO accounts_user (id, password, is_superuser, email, name, is_guest, is_teacher,
                           is_staff, is_active, created_at, language)
SELECT %(user_base)s + k, '!', false, 'scale-student-' || k || '@example.com',
       'Scale Student ' || k, true, false, false, true, %(now)s - interval '731 days', ''
  FROM generate_series(1, %(students)s) AS k
"""

PURCHASES = """
INSERT INTO finances_purchasetransaction (
    id, plan_type, plan_name, minutes, amount_cents, currency, validity_days, billing_period,
    status, livemode, stripe_payment_intent_id, stripe_customer_id, client_secret_hash,
    failure_reason, refunded_amount_cents, needs_review, review_reason, paid_at, expires_at,
    metadata, created_at, updated_at, plan_id, student_id, dispute_shortfall_minutes,
    failed_refund_ids, refund_shortfall_minutes, stripe_charge_id, is_test_data, lot_open)
SELECT md5('scale-purchase-' || i)::uuid, p.plan_type, p.name, p.minutes, p.price_cents,
       p.currency, p.validity_days, p.billing_period,
       CASE WHEN i %% 25 = 0 THEN 'CANCELLED' ELSE 'COMPLETED' END, false,
       'pi_scale' || i,
       CASE WHEN i %% 25 = 0 THEN '' ELSE 'cus_scale' || (i %% %(students)s + 1) END,
       '', '', 0, false, '',
       CASE WHEN i %% 25 = 0 THEN NULL ELSE t.created + interval '1 minute' END,
       CASE WHEN i %% 25 = 0 THEN NULL
            ELSE t.created + interval '1 minute' + p.validity_days * interval '1 day' END,
       '{}'::jsonb, t.created, t.created, p.id, %(user_base)s + (i %% %(students)s + 1), 0,
       '[]'::jsonb, 0,
       CASE WHEN i %% 25 = 0 THEN '' ELSE 'ch_scale' || i END, false,
       i %% 25 <> 0 AND t.created + interval '1 minute' + p.validity_days * interval '1 day'
                        > %(now)s - interval '6 hours'
  FROM generate_series(1, %(purchases)s) AS i
 CROSS JOIN LATERAL (SELECT %(now)s - interval '730 days' * (%(purchases)s - i)
                                      / %(purchases)s AS created) AS t
 CROSS JOIN (SELECT * FROM finances_pricingplan WHERE slug = 'package-10h') AS p
"""

LEDGER = """
INSERT INTO finances_hoursledgerentry (entry_type, minutes, amount_cents, expires_at,
    idempotency_key, stripe_event_id, lesson_reference, note, created_at, student_id,
    purchase_transaction_id)
SELECT e.entry_type, e.minutes, e.amount_cents, e.expires_at, e.idempotency_key,
       e.stripe_event_id, e.lesson_reference, e.note, e.created_at, pt.student_id, pt.id
  FROM finances_purchasetransaction pt
 CROSS JOIN LATERAL (SELECT substr(pt.stripe_payment_intent_id, 9)::int AS i) AS n
 CROSS JOIN LATERAL (
    SELECT 'CREDIT' AS entry_type, pt.minutes AS minutes, pt.amount_cents AS amount_cents,
           pt.expires_at, 'credit:' || pt.id AS idempotency_key,
           'evt_scale' || n.i AS stripe_event_id, '' AS lesson_reference,
           pt.plan_name || ' paid' AS note, pt.paid_at AS created_at
    UNION ALL
    SELECT 'DEBIT', -60, 0, NULL, 'lesson:scale-' || n.i, '', 'lesson-scale-' || n.i,
           'Lesson', LEAST(pt.paid_at + interval '1 day', %(now)s)
     WHERE n.i %% 4 = 0
    UNION ALL
    SELECT 'EXPIRY', -(pt.minutes - CASE WHEN n.i %% 4 = 0 THEN 60 ELSE 0 END), 0, NULL,
           'expiry:' || pt.id || ':' || CASE WHEN n.i %% 4 = 0 THEN 2 ELSE 1 END, '', '',
           pt.plan_name || ' expired', pt.expires_at
     WHERE pt.expires_at <= %(now)s - interval '6 hours'
 ) AS e
 WHERE pt.status = 'COMPLETED' AND pt.stripe_payment_intent_id LIKE 'pi_scale%%'
"""

BALANCES = """
INSERT INTO finances_studentaccountbalance (student_id, purchased_minutes, consumed_minutes,
    refunded_minutes, expired_minutes, held_minutes, remaining_minutes, paid_cents,
    refunded_cents, updated_at)
SELECT u.id,
       COALESCE(SUM(l.minutes) FILTER (WHERE l.entry_type = 'CREDIT'), 0),
       COALESCE(-SUM(l.minutes) FILTER (WHERE l.entry_type = 'DEBIT'), 0),
       0,
       COALESCE(-SUM(l.minutes) FILTER (WHERE l.entry_type = 'EXPIRY'), 0),
       0,
       COALESCE(SUM(l.minutes), 0),
       COALESCE(SUM(l.amount_cents) FILTER (WHERE l.entry_type = 'CREDIT'), 0),
       0, %(now)s
  FROM accounts_user u
  LEFT JOIN finances_hoursledgerentry l ON l.student_id = u.id
 WHERE u.id > %(user_base)s AND u.id <= %(user_base)s + %(students)s
 GROUP BY u.id
"""

EVENTS = """
INSERT INTO finances_webhookeventlog (stripe_event_id, event_type, api_version, livemode,
    stripe_created_at, stripe_object_id, payload, source, status, error_message, retry_count,
    next_retry_at, delivery_count, received_at, processing_started_at, processed_at,
    processing_duration_ms, purchase_transaction_id)
SELECT 'evt_scale' || n.i, e.type, '2024-06-20', false, e.at, pt.stripe_payment_intent_id,
       jsonb_build_object(
           'id', 'evt_scale' || n.i, 'object', 'event', 'type', e.type,
           'api_version', '2024-06-20', 'created', extract(epoch FROM e.at)::bigint,
           'livemode', false,
           'data', jsonb_build_object('object', jsonb_build_object(
               'id', pt.stripe_payment_intent_id, 'object', 'payment_intent',
               'amount', pt.amount_cents, 'amount_received', pt.amount_cents,
               'currency', lower(pt.currency), 'status', e.stripe_status,
               'customer', NULLIF(pt.stripe_customer_id, ''),
               'latest_charge', NULLIF(pt.stripe_charge_id, ''),
               'description', repeat(md5(n.i::text), 40),
               'metadata', jsonb_build_object('application', 'aprende',
                                              'transaction_id', pt.id::text)))),
       'WEBHOOK', 'PROCESSED', '', 0, NULL, 1, e.at, e.at,
       e.at + interval '5 milliseconds', 5.0, pt.id
  FROM finances_purchasetransaction pt
 CROSS JOIN LATERAL (SELECT substr(pt.stripe_payment_intent_id, 9)::int AS i) AS n
 CROSS JOIN LATERAL (
    SELECT CASE WHEN pt.status = 'COMPLETED' THEN 'payment_intent.succeeded'
                ELSE 'payment_intent.canceled' END AS type,
           CASE WHEN pt.status = 'COMPLETED' THEN 'succeeded' ELSE 'canceled' END
               AS stripe_status,
           COALESCE(pt.paid_at, LEAST(pt.created_at + interval '1 day', %(now)s)) AS at
 ) AS e
 WHERE pt.stripe_payment_intent_id LIKE 'pi_scale%%'
"""

BACKLOG = """
INSERT INTO finances_webhookeventlog (stripe_event_id, event_type, api_version, livemode,
    stripe_created_at, stripe_object_id, payload, source, status, error_message, retry_count,
    next_retry_at, delivery_count, received_at)
SELECT 'evt_scale_failed' || k, 'payment_intent.succeeded', '2024-06-20', false,
       %(now)s - interval '10 minutes', 'pi_scale_unknown' || k,
       jsonb_build_object('id', 'evt_scale_failed' || k, 'type', 'payment_intent.succeeded'),
       'WEBHOOK', 'FAILED', 'Bench: a failure awaiting its retry', 1,
       CASE WHEN k <= 30 THEN %(now)s + interval '1 hour' END, 1,
       CASE WHEN k <= 30 THEN %(now)s - interval '5 minutes'
            ELSE %(now)s - interval '20 days' END
  FROM generate_series(1, 35) AS k
"""


def history_load(*, purchases: int, now=None, log=print) -> dict:
    """Loads the history described in the module; returns the row counts written."""
    import time

    now = now or timezone.now()
    students = max(1, purchases // 20)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM finances_pricingplan WHERE slug = 'package-10h'")
        if cursor.fetchone() is None:
            raise RuntimeError("The 10-hour package is missing: run seed_pricing_plans first.")
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_user")
        user_base = cursor.fetchone()[0]
    parameters = {
        "now": now,
        "purchases": purchases,
        "students": students,
        "user_base": user_base,
    }
    counts = {}
    steps = [
        ("users", USERS, "accounts_user"),
        ("purchases", PURCHASES, "finances_purchasetransaction"),
        ("ledger_entries", LEDGER, "finances_hoursledgerentry"),
        ("balances", BALANCES, "finances_studentaccountbalance"),
        ("webhook_events", EVENTS, "finances_webhookeventlog"),
        ("webhook_backlog", BACKLOG, None),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Foreign keys checked statement by statement (and before the trigger is back).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE finances_hoursledgerentry DISABLE TRIGGER finances_ledger_open_lot"
        )
        for name, sql, table in steps:
            started = time.monotonic()
            cursor.execute(sql, parameters)
            counts[name] = cursor.rowcount
            if table:  # the next step's plan must know this table is no longer tiny
                cursor.execute(f"ANALYZE {table}")
            log(f"scale: {name}: {counts[name]} rows in {time.monotonic() - started:.1f} s")
        cursor.execute(
            "ALTER TABLE finances_hoursledgerentry ENABLE TRIGGER finances_ledger_open_lot"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_user', 'id'), "
            "(SELECT MAX(id) FROM accounts_user))"
        )
    return counts
