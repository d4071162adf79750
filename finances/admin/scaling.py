"""What keeps the admin's changelists fast on tables of millions of rows.

- No full `COUNT(*)` per page: `show_full_result_count = False`, and an unfiltered list's
  total is the planner's estimate once the table is large (COUNT_ESTIMATE_MIN_ROWS).
- No `date_hierarchy` (its date links are a `SELECT DISTINCT date_trunc(...)` over the
  table) and no list filter built from the column's distinct values.
- Searches that use an index: a pasted Stripe id (`pi_…`, `evt_…`, `ch_…`, `cus_…`, `in_…`),
  key or purchase UUID is looked up exactly, case-sensitively, in the id fields its prefix
  names (Django's `=field` is `UPPER(col) = UPPER(...)`, which no unique index serves, and
  OR-ing it with an email `LIKE '%…%'` across a join scans every row anyway); anything
  else is an email prefix (emails are stored lower-cased, so `email LIKE 'ana@%'` uses the
  email's pattern index).
"""

import operator
import re
import uuid
from functools import reduce

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.functional import cached_property

from finances.selectors.row_counts import table_row_estimate

# An id rather than (the start of) an email or a name: one word with a digit, an
# underscore or a colon in it (`pi_3N…`, `evt_…`, `credit:…`, `lesson-42`).
IDENTIFIER = re.compile(r"^(?=.*[0-9_:])[\w:.\-]+$")


class EstimatedCountPaginator(Paginator):
    """An unfiltered changelist of a large table shows the planner's row estimate."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            estimate = table_row_estimate(self.object_list.model)
            if estimate is not None and estimate >= settings.COUNT_ESTIMATE_MIN_ROWS:
                return estimate
        return super().count


class LargeTableAdminMixin:
    """Changelists of tables that grow with history (see the module)."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # (id prefix, field): a term starting with the prefix is looked up exactly in those
    # fields only; a prefix of "" is for id-like terms no prefix claims. Every field has
    # an index, and the fields of one term are on one table (an OR across a join scans).
    exact_search_fields: tuple[tuple[str, str], ...] = ()
    # The primary key, when it is a UUID (matched only by a term that parses as one).
    uuid_search_field: str | None = None
    # Email fields matched by prefix of the lower-cased term.
    email_search_fields: tuple[str, ...] = ()

    def get_search_fields(self, request):
        # Shown in the search box's help; the lookups are get_search_results'.
        fields = [field for _, field in self.exact_search_fields] + list(self.email_search_fields)
        return fields or super().get_search_fields(request)

    def get_search_results(self, request, queryset, search_term):
        if not (self.exact_search_fields or self.email_search_fields or self.uuid_search_field):
            return super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return queryset, False
        conditions = [Q(**{field: value}) for field, value in self._search_lookups(term)]
        if not conditions:
            return queryset.none(), False
        # Forward foreign keys only: no row can match twice.
        return queryset.filter(reduce(operator.or_, conditions)), False

    def _search_lookups(self, term: str) -> list[tuple[str, object]]:
        if self.uuid_search_field:
            try:
                return [(self.uuid_search_field, uuid.UUID(term))]
            except ValueError:
                pass
        if "@" not in term and IDENTIFIER.match(term):
            claimed = [
                field
                for prefix, field in self.exact_search_fields
                if prefix and term.startswith(prefix)
            ]
            fields = claimed or [field for prefix, field in self.exact_search_fields if not prefix]
            if fields:
                return [(f"{field}__exact", term) for field in fields]
        return [(f"{field}__startswith", term.lower()) for field in self.email_search_fields]


def handled_event_types() -> list[str]:
    from finances.webhooks.handlers import EVENT_HANDLERS

    return sorted(EVENT_HANDLERS)


class EventTypeFilter(admin.SimpleListFilter):
    """The event types we handle, listed from the code rather than from the table."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(event_type, event_type) for event_type in handled_event_types()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event_type=self.value())
        return queryset
