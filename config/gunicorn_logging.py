"""gunicorn's access log without the secrets some paths carry (core/log_redaction.py)."""

from gunicorn.glogging import Logger

from core.log_redaction import redact_secret_paths

_PATH_ATOMS = ("U", "r", "f")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _PATH_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_secret_paths(atoms[key])
        return atoms
