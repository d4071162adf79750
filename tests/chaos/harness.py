"""A storm of Stripe deliveries with faults, then Stripe-style redelivery and the repair
commands, then a verdict: nothing lost, nothing applied twice, the ledger clean.

The purchases are real (initiated through the service, with PaymentIntents at
localstripe, paid / refunded / cancelled there), so reconciliation can repair from the
truth. Their events are built and signed as Stripe would send them.
"""

import contextlib
import io
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from django.core.management import CommandError, call_command
from django.db import connection

from finances.models import (
    HoursLedgerEntry,
    PricingPlan,
    PurchaseTransaction,
    WebhookEventLog,
)
from finances.services.ledger_verification import ledger_verify
from finances.services.purchases import purchase_initiate
from tests.chaos.money_leaving import lessons_plan, money_leaving_events, money_leaving_verdict
from tests.chaos.servers import ServerPair
from tests.support.localstripe import LocalStripe
from tests.support.stripe_events import (
    WEBHOOK_URL,
    charge_object,
    event,
    payment_intent_object,
    sign,
)

Status = PurchaseTransaction.Status
FATES = (
    "paid",
    "failed_then_paid",
    "refunded",
    "partially_refunded",
    "cancelled",
    "dispute_won",
    "dispute_lost",
    "refund_failed",
)


@dataclass
class PlannedPurchase:
    purchase: PurchaseTransaction
    fate: str
    events: list[dict] = field(default_factory=list)

    @property
    def expected_status(self) -> str:
        return {"refunded": Status.REFUNDED, "cancelled": Status.CANCELLED}.get(
            self.fate, Status.COMPLETED
        )

    @property
    def expected_remaining_minutes(self) -> int:
        minutes = self.purchase.minutes
        return {
            "refunded": 0,
            "cancelled": 0,
            "dispute_lost": 0,
            "partially_refunded": minutes - minutes // 2,
        }.get(self.fate, minutes)


@dataclass
class Verdict:
    purchases: int = 0
    events_sent: int = 0
    deliveries: int = 0
    non_2xx_answers: int = 0
    transport_errors: int = 0
    redeliveries: int = 0
    connections_killed: int = 0
    servers_killed: int = 0
    requests_cut_off: int = 0
    credits_applied: int = 0
    expected_credits: int = 0
    double_credits: int = 0
    lost_events: int = 0
    wrong_final_states: int = 0
    lessons_recorded: int = 0
    lessons_left_unreversed: int = 0
    usable_minutes_on_refunded_or_lost_lots: int = 0
    holds_not_released_or_final: int = 0
    ledger_problems: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            self.double_credits == 0
            and self.lost_events == 0
            and self.wrong_final_states == 0
            and self.credits_applied == self.expected_credits
            and self.lessons_left_unreversed == 0
            and self.usable_minutes_on_refunded_or_lost_lots == 0
            and self.holds_not_released_or_final == 0
            and not self.ledger_problems
        )

    def render(self) -> str:
        rows = [
            ("purchases", self.purchases),
            ("events sent (unique)", self.events_sent),
            ("deliveries (all HTTP attempts)", self.deliveries),
            ("non-2xx answers", self.non_2xx_answers),
            ("transport errors (killed, cut off)", self.transport_errors),
            ("Stripe-style redeliveries", self.redeliveries),
            ("database connections killed", self.connections_killed),
            ("server processes SIGKILLed", self.servers_killed),
            ("requests cut off by the client", self.requests_cut_off),
            ("credits applied", self.credits_applied),
            ("expected credits", self.expected_credits),
            ("double credits (must be 0)", self.double_credits),
            ("lost events (must be 0)", self.lost_events),
            ("wrong final states (must be 0)", self.wrong_final_states),
            ("lessons recorded (then reversed)", self.lessons_recorded),
            ("lessons left unreversed (must be 0)", self.lessons_left_unreversed),
            (
                "usable minutes on refunded/lost lots (must be 0)",
                self.usable_minutes_on_refunded_or_lost_lots,
            ),
            (
                "dispute holds neither released nor final (must be 0)",
                self.holds_not_released_or_final,
            ),
            ("verify_ledger", "clean" if not self.ledger_problems else self.ledger_problems),
            ("elapsed", f"{self.elapsed_seconds:.1f} s"),
            ("VERDICT", "PASS" if self.passed else "FAIL"),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def purchases_plan(*, count: int, localstripe: LocalStripe, seed: int) -> list[PlannedPurchase]:
    """Initiates `count` purchases and gives each a fate, enacted at localstripe."""
    chooser = random.Random(seed)
    plan = PricingPlan.objects.filter(is_active=True, plan_type="PACKAGE").order_by("id").first()
    planned = []
    for index in range(count):
        initiation = purchase_initiate(
            plan_id=plan.pk,
            buyer=None,
            student_name="Chaos Student",
            student_email=f"chaos-{seed}-{index % max(1, count // 3)}@example.com",
        )
        purchase, fate = initiation.purchase, FATES[index % len(FATES)]
        payment_intent_id = purchase.stripe_payment_intent_id
        item = PlannedPurchase(purchase, fate)
        if fate == "cancelled":
            localstripe.cancel(payment_intent_id)
            item.events = [
                event(
                    "payment_intent.payment_failed",
                    payment_intent_object(
                        purchase, status="requires_payment_method", failure_message="Declined."
                    ),
                ),
                event(
                    "payment_intent.canceled", payment_intent_object(purchase, status="canceled")
                ),
            ]
        else:
            localstripe.pay(payment_intent_id)
            item.events = [event("payment_intent.succeeded", payment_intent_object(purchase))]
            if fate == "failed_then_paid":
                item.events.insert(
                    0,
                    event(
                        "payment_intent.payment_failed",
                        payment_intent_object(
                            purchase, status="requires_payment_method", failure_message="Declined."
                        ),
                    ),
                )
            refund = {
                "refunded": purchase.amount_cents,
                "partially_refunded": purchase.amount_cents // 2,
            }
            if fate in refund:
                localstripe.refund(payment_intent_id, refund[fate])
                item.events.append(
                    event("charge.refunded", charge_object(purchase, amount_refunded=refund[fate]))
                )
            item.events += money_leaving_events(purchase, fate, index=index, seed=seed)
        chooser.shuffle(item.events)  # Stripe does not guarantee order
        planned.append(item)
    return planned


class Storm:
    """Sends every event `copies` times, concurrently, to both servers, in random order,
    while a fault thread kills database connections, servers and requests."""

    def __init__(self, *, servers: ServerPair, database_name: str, seed: int, workers: int) -> None:
        self.servers = servers
        self.database_name = database_name
        self.random = random.Random(seed)
        self.workers = workers
        self.lock = threading.Lock()
        self.answers: dict[str, list[int | None]] = defaultdict(list)
        self.counts: Counter = Counter()
        self.unacknowledged: list[dict] = []
        self.restarts: list[threading.Thread] = []
        self._storming = threading.Event()

    def _post(self, document: dict, *, cut_off: bool = False) -> int | None:
        body = json.dumps(document)
        server = self.random.choice(self.servers.servers)
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body)}
        status = None
        try:
            if cut_off:
                self._send_and_hang_up(server.port, body, headers)
            else:
                status = requests.post(
                    server.url + WEBHOOK_URL, data=body, headers=headers, timeout=30
                ).status_code
        except (requests.RequestException, OSError):
            status = None
        with self.lock:
            self.answers[document["id"]].append(status)
            self.counts["deliveries"] += 1
            self.counts["cut_off"] += int(cut_off)
            if status is None or not 200 <= status < 300:
                self.unacknowledged.append(document)
        return status

    @staticmethod
    def _send_and_hang_up(port: int, body: str, headers: dict) -> None:
        """Sends the request, then closes before reading the answer (a client that gave
        up); every other time only half of the body arrives."""
        encoded = body.encode()
        head = (
            f"POST {WEBHOOK_URL} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(encoded)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            + "\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(head + (encoded if len(encoded) % 2 else encoded[: len(encoded) // 2]))

    def _faults(self, *, total: int, interval_seconds: float, server_kills: int) -> None:
        """Kills a database connection every `interval_seconds`, and a whole server (master
        and workers, SIGKILL) at evenly spaced points of the storm's progress."""
        kill_points = [total * (index + 1) // (server_kills + 1) for index in range(server_kills)]
        last_connection_kill = 0.0
        while self._storming.is_set():
            time.sleep(0.01)
            with self.lock:
                done = self.counts["deliveries"]
            if kill_points and done >= kill_points[0]:
                kill_points.pop(0)
                with self.lock:
                    victim = self.servers.servers[self.counts["servers_killed"] % 2]
                    self.counts["servers_killed"] += 1
                victim.kill()
                # Restart in the background: the storm (and the faults) go on meanwhile.
                restart = threading.Thread(target=victim.restart, daemon=True)
                restart.start()
                self.restarts.append(restart)
            if time.monotonic() - last_connection_kill >= interval_seconds:
                last_connection_kill = time.monotonic()
                self._terminate_a_database_connection()
        connection.close()

    def _terminate_a_database_connection(self) -> None:
        # Runs in the fault thread, on that thread's own connection (excluded below); busy
        # connections first, so that a transaction dies mid-way.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' ORDER BY state = 'idle'",
                [self.database_name],
            )
            candidates = [row[0] for row in cursor.fetchall()]
            if candidates:
                cursor.execute("SELECT pg_terminate_backend(%s)", [candidates[0]])
                with self.lock:
                    self.counts["connections_killed"] += 1

    def run(
        self,
        *,
        events: list[dict],
        copies: int,
        fault_interval: float,
        server_kills: int,
        side_work: list = (),
    ) -> None:
        deliveries = [(document, False) for document in events for _ in range(copies)]
        deliveries += [
            (document, True) for document in self.random.sample(events, k=len(events) // 4)
        ]
        deliveries += [(work, None) for work in side_work]
        self.random.shuffle(deliveries)
        self._storming.set()
        faults = threading.Thread(
            target=self._faults,
            kwargs={
                "total": len(deliveries),
                "interval_seconds": fault_interval,
                "server_kills": server_kills,
            },
            daemon=True,
        )
        faults.start()
        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                self.side_results = list(
                    pool.map(
                        lambda item: (
                            item[0]() if item[1] is None else self._post(item[0], cut_off=item[1])
                        ),
                        deliveries,
                    )
                )
        finally:
            self._storming.clear()
            faults.join()
            for restart in self.restarts:
                restart.join()
            for server in self.servers.servers:
                if server.process.poll() is not None:
                    server.restart()

    def redeliver_until_acknowledged(self, *, attempts: int = 20) -> None:
        """What Stripe does: every delivery that did not get a 2xx is sent again, with
        backoff, until it does."""
        for attempt in range(attempts):
            with self.lock:
                failed, self.unacknowledged = self.unacknowledged, []
            if not failed:
                return
            for document in failed:
                self._post(document)
                with self.lock:
                    self.counts["redeliveries"] += 1
            time.sleep(min(2.0, 0.1 * 2**attempt))


def chaos_run(
    *,
    servers: ServerPair,
    localstripe: LocalStripe,
    purchases: int,
    copies: int,
    seed: int,
    workers: int = 16,
    fault_interval: float = 0.25,
    server_kills: int = 2,
) -> Verdict:
    started = time.monotonic()
    planned = purchases_plan(count=purchases, localstripe=localstripe, seed=seed)
    events = [document for item in planned for document in item.events]
    storm = Storm(
        servers=servers, database_name=connection.settings_dict["NAME"], seed=seed, workers=workers
    )
    storm.run(
        events=events,
        copies=copies,
        fault_interval=fault_interval,
        server_kills=server_kills,
        side_work=lessons_plan(planned, seed=seed),
    )
    storm.redeliver_until_acknowledged()
    # What cron does next: retry what failed, then ask Stripe about the rest.
    connection.close()
    output = io.StringIO()
    for command in (
        ["retry_webhook_events", "--failed"],
        # Every purchase of the storm, however many (the per-run bound is for cron).
        [
            "reconcile_payments",
            "--older-than-minutes",
            "0",
            "--events-since-hours",
            "0",
            "--max-purchases",
            "1000000",
        ],
    ):
        # What is still wrong afterwards is judged by the verdict.
        with contextlib.suppress(CommandError):
            call_command(*command, stdout=output, stderr=output)
    return _verdict(planned, events, storm, started)


def _verdict(planned, events, storm: Storm, started: float) -> Verdict:
    verdict = Verdict(purchases=len(planned), events_sent=len(events))
    verdict.deliveries = storm.counts["deliveries"]
    answers = [status for statuses in storm.answers.values() for status in statuses]
    verdict.transport_errors = sum(1 for status in answers if status is None)
    verdict.non_2xx_answers = sum(
        1 for status in answers if status is None or not 200 <= status < 300
    )
    verdict.redeliveries = storm.counts["redeliveries"]
    verdict.connections_killed = storm.counts["connections_killed"]
    verdict.servers_killed = storm.counts["servers_killed"]
    verdict.requests_cut_off = storm.counts["cut_off"]
    credits = Counter(
        HoursLedgerEntry.objects.filter(entry_type=HoursLedgerEntry.EntryType.CREDIT).values_list(
            "purchase_transaction_id", flat=True
        )
    )
    verdict.credits_applied = sum(credits.values())
    verdict.expected_credits = sum(1 for item in planned if item.fate != "cancelled")
    verdict.double_credits = sum(1 for count in credits.values() if count > 1)
    finished = set(
        WebhookEventLog.objects.filter(status__in=WebhookEventLog.FINAL_STATUSES).values_list(
            "stripe_event_id", flat=True
        )
    )
    verdict.lost_events = sum(1 for document in events if document["id"] not in finished)
    for item in planned:
        item.purchase.refresh_from_db()
        remaining = sum(
            HoursLedgerEntry.objects.filter(purchase_transaction=item.purchase).values_list(
                "minutes", flat=True
            )
        )
        if (
            item.purchase.status != item.expected_status
            or remaining != item.expected_remaining_minutes
        ):
            verdict.wrong_final_states += 1
    money_leaving_verdict(verdict, planned)
    verdict.ledger_problems = ledger_verify().problems
    verdict.elapsed_seconds = time.monotonic() - started
    return verdict
