import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from bench.scale_load import history_load
t=time.time(); print(history_load(purchases=int(sys.argv[1]))); print(time.time()-t)
