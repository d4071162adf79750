"""gunicorn settings that belong to the code, not to one deployment: `gunicorn -c
config/gunicorn.conf.py config.wsgi:application` (command-line flags still win).

The access log names the path without its query string (`%(U)s`, not `%(r)s`, which is
the raw request line) and leaves out the Referer (`%(f)s`): either could carry a secret,
such as a client secret pasted into a URL, into the logs and whoever ships them. The
logger class also redacts the one-time keys allauth puts in some paths (password reset and
email confirmation links; core/log_redaction.py).
"""

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
logger_class = "config.gunicorn_logging.RedactingLogger"
