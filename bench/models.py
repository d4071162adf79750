from django.db import models


class BenchRow(models.Model):
    """A row the ceiling view writes: no constraints beyond the unique key, no logic."""

    key = models.CharField(max_length=255, unique=True)
    payload = models.JSONField(default=dict)
    counter = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.key
