"""Disputes, refund failures and shortfalls (issue 8).

The new ledger entry types change `ledger_entry_signs_match_type`, which SQLite applies by
rebuilding finances_hoursledgerentry and so drops its append-only trigger: it is created
again at the end (as in 0005). PostgreSQL alters in place; its trigger is untouched."""

import importlib

import django.db.models.deletion
import django.db.models.expressions
import django.utils.timezone
from django.conf import settings


from django.db import migrations, models


ledger_trigger = importlib.import_module("finances.migrations.0002_ledger_append_only")


def reinstate_ledger_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(ledger_trigger.SQLITE_BACKWARD)
        schema_editor.execute(ledger_trigger.SQLITE_FORWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("finances", "0006_drop_unused_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Dispute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("stripe_dispute_id", models.CharField(max_length=255)),
                ("stripe_charge_id", models.CharField(blank=True, max_length=255)),
                ("amount_cents", models.PositiveIntegerField()),
                ("currency", models.CharField(max_length=3)),
                (
                    "stripe_status",
                    models.CharField(help_text="Stripe's dispute status.", max_length=40),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("OPEN", "Open"),
                            ("WON", "Won (hold released)"),
                            ("LOST", "Lost (hold final)"),
                        ],
                        default="OPEN",
                        max_length=8,
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=100)),
                ("evidence_due_by", models.DateTimeField(blank=True, null=True)),
                (
                    "held_minutes",
                    models.PositiveIntegerField(
                        default=0, help_text="Minutes of the lot this dispute holds now."
                    ),
                ),
                (
                    "lost_minutes",
                    models.PositiveIntegerField(
                        default=0, help_text="Minutes taken for good when the dispute was lost."
                    ),
                ),
                ("funds_withdrawn", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="hoursledgerentry",
            name="ledger_entry_signs_match_type",
        ),
        migrations.RemoveConstraint(
            model_name="studentaccountbalance",
            name="balance_totals_not_negative",
        ),
        migrations.RemoveConstraint(
            model_name="studentaccountbalance",
            name="balance_remaining_is_consistent",
        ),
        migrations.AddField(
            model_name="purchasetransaction",
            name="dispute_shortfall_minutes",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Minutes lost disputes should have taken but were already used; taken as soon as lessons give minutes back.",
            ),
        ),
        migrations.AddField(
            model_name="purchasetransaction",
            name="failed_refund_ids",
            field=models.JSONField(
                blank=True, default=list, help_text="Stripe refunds reported failed or canceled."
            ),
        ),
        migrations.AddField(
            model_name="purchasetransaction",
            name="refund_shortfall_minutes",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Minutes refunds should have taken back but were already used; taken as soon as lessons give minutes back.",
            ),
        ),
        migrations.AddField(
            model_name="purchasetransaction",
            name="refunds_reported_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When Stripe reported the refunded amount recorded.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="purchasetransaction",
            name="stripe_charge_id",
            field=models.CharField(
                blank=True,
                help_text="The charge that paid it (older disputes name only it).",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="studentaccountbalance",
            name="held_minutes",
            field=models.IntegerField(
                default=0,
                help_text="Unused minutes on hold while a dispute of their payment is open.",
            ),
        ),
        migrations.AlterField(
            model_name="hoursledgerentry",
            name="entry_type",
            field=models.CharField(
                choices=[
                    ("CREDIT", "Credit (payment)"),
                    ("DEBIT", "Debit (lesson)"),
                    ("DEBIT_REVERSAL", "Debit reversal (lesson cancelled)"),
                    ("REFUND_REVERSAL", "Refund reversal"),
                    ("EXPIRY", "Expiry"),
                    ("REFUND_FAILURE", "Refund failure (refund undone)"),
                    ("DISPUTE_HOLD", "Dispute hold"),
                    ("DISPUTE_RELEASE", "Dispute hold released"),
                    ("DISPUTE_LOSS", "Dispute lost"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="purchasetransaction",
            index=models.Index(
                condition=models.Q(("stripe_charge_id", ""), _negated=True),
                fields=["stripe_charge_id"],
                name="purchase_charge_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="hoursledgerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("amount_cents__gt", 0), ("entry_type", "CREDIT"), ("minutes__gt", 0)),
                    models.Q(("amount_cents", 0), ("entry_type", "DEBIT"), ("minutes__lt", 0)),
                    models.Q(
                        ("amount_cents", 0), ("entry_type", "DEBIT_REVERSAL"), ("minutes__gt", 0)
                    ),
                    models.Q(
                        ("amount_cents__lte", 0),
                        ("entry_type", "REFUND_REVERSAL"),
                        ("minutes__lte", 0),
                    ),
                    models.Q(("amount_cents", 0), ("entry_type", "EXPIRY"), ("minutes__lt", 0)),
                    models.Q(
                        ("amount_cents__gt", 0),
                        ("entry_type", "REFUND_FAILURE"),
                        ("minutes__gte", 0),
                    ),
                    models.Q(
                        ("amount_cents", 0), ("entry_type", "DISPUTE_HOLD"), ("minutes__lt", 0)
                    ),
                    models.Q(
                        ("amount_cents", 0), ("entry_type", "DISPUTE_RELEASE"), ("minutes__gt", 0)
                    ),
                    models.Q(
                        ("amount_cents__lte", 0),
                        ("entry_type", "DISPUTE_LOSS"),
                        ("minutes__lte", 0),
                    ),
                    _connector="OR",
                ),
                name="ledger_entry_signs_match_type",
            ),
        ),
        migrations.AddConstraint(
            model_name="studentaccountbalance",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("consumed_minutes__gte", 0),
                    ("expired_minutes__gte", 0),
                    ("held_minutes__gte", 0),
                    ("paid_cents__gte", 0),
                    ("purchased_minutes__gte", 0),
                    ("refunded_cents__gte", 0),
                    ("refunded_minutes__gte", 0),
                    ("remaining_minutes__gte", 0),
                ),
                name="balance_totals_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="studentaccountbalance",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "remaining_minutes",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                django.db.models.expressions.CombinedExpression(
                                    django.db.models.expressions.CombinedExpression(
                                        models.F("purchased_minutes"),
                                        "-",
                                        models.F("consumed_minutes"),
                                    ),
                                    "-",
                                    models.F("refunded_minutes"),
                                ),
                                "-",
                                models.F("expired_minutes"),
                            ),
                            "-",
                            models.F("held_minutes"),
                        ),
                    )
                ),
                name="balance_remaining_is_consistent",
            ),
        ),
        migrations.AddField(
            model_name="dispute",
            name="purchase",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="disputes",
                to="finances.purchasetransaction",
            ),
        ),
        migrations.AddConstraint(
            model_name="dispute",
            constraint=models.UniqueConstraint(
                fields=("stripe_dispute_id",), name="dispute_stripe_id_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="dispute",
            constraint=models.CheckConstraint(
                condition=models.Q(("outcome__in", ["OPEN", "WON", "LOST"])),
                name="dispute_outcome_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="dispute",
            constraint=models.CheckConstraint(
                condition=models.Q(("outcome", "OPEN"), ("held_minutes", 0), _connector="OR"),
                name="dispute_holds_only_while_open",
            ),
        ),
        migrations.RunPython(reinstate_ledger_trigger, migrations.RunPython.noop),
    ]
