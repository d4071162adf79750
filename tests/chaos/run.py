"""The long chaos run, on demand:

    make chaos                      # or:
    .venv/bin/python -m tests.chaos.run --purchases 300 --copies 4 --server-kills 6

Creates (and afterwards drops) the PostgreSQL database `aprende_chaos`, starts its own
localstripe and two gunicorn servers, runs the storm and prints the verdict. Exit code 0
only when nothing was lost, nothing was applied twice and the ledger is clean.
"""

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=300)
    parser.add_argument("--copies", type=int, default=4, help="deliveries of each event")
    parser.add_argument("--workers", type=int, default=32, help="concurrent senders")
    parser.add_argument("--server-kills", type=int, default=6)
    parser.add_argument("--fault-interval", type=float, default=0.2, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    arguments = parser.parse_args(argv)
    seed = arguments.seed if arguments.seed is not None else uuid.uuid4().int % 1_000_000

    import psycopg

    database = "aprende_chaos"
    with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {database}")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_READ_DOT_ENV": "false",
            "DATABASE_URL": f"{arguments.postgres}/{database}",
            "REDIS_URL": arguments.redis,
            "RATE_LIMITING_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from devtools import localstripe as localstripe_control
    from finances.services.plans import pricing_plans_seed
    from tests.chaos.harness import chaos_run
    from tests.chaos.servers import ServerPair, free_port, server_environment
    from tests.support.localstripe import LocalStripe
    from tests.support.stripe_events import TEST_WEBHOOK_SECRET

    call_command("migrate", verbosity=0)
    pricing_plans_seed()
    work = Path(tempfile.mkdtemp(prefix="aprende-chaos-"))
    port = free_port()
    localstripe_process = localstripe_control.start(port=port, log_path=work / "localstripe.log")
    api_base = f"http://127.0.0.1:{port}"
    servers = None
    try:
        localstripe_control.wait_until_ready(api_base)
        settings.STRIPE_API_BASE = api_base
        settings.STRIPE_SECRET_KEY = "sk_test_chaos"
        settings.STRIPE_SEND_OPTIONAL_PARAMETERS = False
        settings.STRIPE_WEBHOOK_SECRETS = [TEST_WEBHOOK_SECRET]
        servers = ServerPair.start(
            environment=server_environment(
                database_url=os.environ["DATABASE_URL"],
                redis_url=arguments.redis,
                stripe_api_base=api_base,
                webhook_secret=TEST_WEBHOOK_SECRET,
                cache_key_prefix=f"chaos-{seed}",
            ),
            log_directory=work,
        )
        print(f"chaos: seed {seed}, logs in {work}", flush=True)
        verdict = chaos_run(
            servers=servers,
            localstripe=LocalStripe(api_base=api_base),
            purchases=arguments.purchases,
            copies=arguments.copies,
            seed=seed,
            workers=arguments.workers,
            fault_interval=arguments.fault_interval,
            server_kills=arguments.server_kills,
        )
    finally:
        if servers:
            servers.stop()
        localstripe_process.terminate()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    print(verdict.render())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
