"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host this
machine cannot reach. ansible-test documents saving the script to its cache; this
one bootstraps pip with the interpreter's own ensurepip, then installs what
ansible-test asked for (the pinned pip) from the configured package index."""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

environment = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null
ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=environment))
